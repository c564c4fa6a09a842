using System.Globalization;

namespace Iser.Tests.Peers;

/// <summary>
/// Runs libiscsi's command-line tools (Debian 'libiscsi-bin') with bounded time and parses what they print.
/// Every tool logs in as <see cref="InitiatorIqn"/>; iscsi-test-cu's second initiator is <see cref="SecondInitiatorIqn"/>.
/// </summary>
public sealed class LibiscsiTools
{
    public static readonly IReadOnlyList<string> ToolNames =
        new[] { "iscsi-inq", "iscsi-ls", "iscsi-readcapacity16", "iscsi-test-cu", "iscsi-perf" };

    public const string DefaultInitiatorIqn = "iqn.2026-11.org.example:iser-tests";
    public const string DefaultSecondInitiatorIqn = "iqn.2026-11.org.example:iser-tests-2";

    public LibiscsiTools(string initiatorIqn = DefaultInitiatorIqn, string secondInitiatorIqn = DefaultSecondInitiatorIqn)
    {
        InitiatorIqn = initiatorIqn;
        SecondInitiatorIqn = secondInitiatorIqn;
    }

    public string InitiatorIqn { get; }

    public string SecondInitiatorIqn { get; }

    /// <summary>Upper bound for the one-shot tools (inq, ls, readcapacity16).</summary>
    public TimeSpan QuickToolTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The iscsi-test-cu to run instead of the installed one (e.g. libiscsi 1.20's), with its environment.</summary>
    public string? TestCuProgram { get; init; }

    public IReadOnlyDictionary<string, string>? TestCuEnvironment { get; init; }

    /// <summary>Upper bound for one iscsi-test-cu run (the whole suite takes ~40 s against tgtd on loopback).</summary>
    public TimeSpan TestSuiteTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>iscsi-inq: standard INQUIRY, or the VPD page <paramref name="vpdPage"/>.</summary>
    public async Task<InquiryReport> InquiryAsync(string lunUrl, int? vpdPage = null)
    {
        var arguments = new List<string> { "-i", InitiatorIqn };
        if (vpdPage is { } page)
            arguments.AddRange(new[] { "-e", "1", "-c", page.ToString(CultureInfo.InvariantCulture) });
        arguments.Add(lunUrl);
        var result = await RunAsync("iscsi-inq", arguments, QuickToolTimeout).ConfigureAwait(false);
        return InquiryReport.Parse(result);
    }

    /// <summary>iscsi-ls: SendTargets discovery, then (with -s) REPORT LUNS and READ CAPACITY on each target.</summary>
    public async Task<DiscoveryReport> ListAsync(string portalUrl, bool showLuns = true)
    {
        var arguments = new List<string> { "-i", InitiatorIqn };
        if (showLuns)
            arguments.Add("-s");
        arguments.Add(portalUrl);
        var result = await RunAsync("iscsi-ls", arguments, QuickToolTimeout).ConfigureAwait(false);
        return DiscoveryReport.Parse(result);
    }

    /// <summary>iscsi-readcapacity16.</summary>
    public async Task<ReadCapacity16Report> ReadCapacity16Async(string lunUrl)
    {
        var result = await RunAsync("iscsi-readcapacity16", new[] { "-i", InitiatorIqn, lunUrl }, QuickToolTimeout)
            .ConfigureAwait(false);
        return ReadCapacity16Report.Parse(result);
    }

    /// <summary>
    /// iscsi-test-cu on <paramref name="lunUrl"/>: <paramref name="test"/> is FAMILY[.SUITE[.TEST]] or null for all.
    /// Destructive tests are allowed (-d), so give it a LUN whose data may be lost; with <paramref name="allowSanitize"/>
    /// the Sanitize family runs too (--allow-sanitize), whose Reset test wants a sanitize that lasts a few seconds
    /// (a LUN with ",sanitize-time=8").
    /// </summary>
    public Task<TestCuResult> TestSuiteAsync(string lunUrl, string? test, bool allowDataLoss = true, bool allowSanitize = false) =>
        TestSuiteAsync([lunUrl], test, allowDataLoss, allowSanitize);

    /// <summary>The same with several URLs of one LUN (paths for the multipath tests, libiscsi's second device).</summary>
    public async Task<TestCuResult> TestSuiteAsync(IReadOnlyList<string> lunUrls, string? test, bool allowDataLoss = true, bool allowSanitize = false)
    {
        var arguments = new List<string> { "-i", InitiatorIqn, "-I", SecondInitiatorIqn };
        if (test is not null)
            arguments.Add($"--test={test}");
        if (allowDataLoss)
            arguments.Add("--dataloss");
        if (allowSanitize)
            arguments.Add("--allow-sanitize");
        arguments.AddRange(lunUrls);
        var result = TestCuProgram is { } program
            ? await ExternalProcess.RunAsync(program, arguments, TestSuiteTimeout, TestCuEnvironment).ConfigureAwait(false)
            : await RunAsync("iscsi-test-cu", arguments, TestSuiteTimeout).ConfigureAwait(false);
        return TestCuResult.Parse(test ?? "(all)", result.ExitCode, result.Transcript);
    }

    /// <summary>
    /// iscsi-perf: reads <paramref name="blocksPerRequest"/> blocks per command with <paramref name="maxInFlight"/>
    /// commands in flight for <paramref name="seconds"/> seconds, sequential or random.
    /// </summary>
    public async Task<PerfReport> PerfAsync(string lunUrl, int blocksPerRequest, int maxInFlight, bool random, int seconds)
    {
        var arguments = new List<string>
        {
            "-i", InitiatorIqn,
            "-b", blocksPerRequest.ToString(CultureInfo.InvariantCulture),
            "-m", maxInFlight.ToString(CultureInfo.InvariantCulture),
            "-t", seconds.ToString(CultureInfo.InvariantCulture),
        };
        if (random)
            arguments.Add("-r");
        arguments.Add(lunUrl);
        var result = await RunAsync("iscsi-perf", arguments, TimeSpan.FromSeconds(seconds + 60)).ConfigureAwait(false);
        return PerfReport.Parse(result);
    }

    private static Task<ProcessResult> RunAsync(string tool, IEnumerable<string> arguments, TimeSpan timeout) =>
        ExternalProcess.RunAsync(PeerTools.Require(tool, PeerTools.LibiscsiPackage), arguments, timeout);
}
