using System.Globalization;
using Xunit.Abstractions;

namespace Iser.Tests.Peers;

/// <summary>
/// The same libiscsi families against tgtd, as a yardstick: this class RECORDS tgtd's figures and does not require
/// tgtd to pass. It asserts only that the harness worked (tgtd started, the suite ran and printed a summary).
/// With ISER_PEER_RECORD=FILE set, each result is appended to FILE as a markdown table row.
/// </summary>
[Trait("Category", "Peers")]
[Collection(ConformanceCollection.Name)]
public sealed class TgtdConformanceRecord
{
    public const string RecordVariable = "ISER_PEER_RECORD";

    private readonly ITestOutputHelper _output;

    public TgtdConformanceRecord(ITestOutputHelper output) => _output = output;

    [PeerTheory(Peer.Tgtd | Peer.LibiscsiTools)]
    [MemberData(nameof(ConformanceFamilies.Data), MemberType = typeof(ConformanceFamilies))]
    public async Task Record_tgtd_family(string family)
    {
        await using var tgtd = await TgtdInstance.StartAsync();
        var result = await new LibiscsiTools().TestSuiteAsync(tgtd.LunUrl(), family);
        Record(result);

        Assert.True(result.SummaryFound, $"iscsi-test-cu printed no CUnit summary.\n{result.Output}\ntgtd:\n{tgtd.Transcript}");
        Assert.True(result.TestsRun > 0, $"iscsi-test-cu ran no test of {family}.\n{result.Output}");
    }

    /// <summary>
    /// The whole suite on one fresh tgtd LUN: the ALL family, which holds every suite once (running with no --test
    /// runs the ALL, SCSI, iSCSI and LINUX families one after another, so most tests run two or three times).
    /// </summary>
    [PeerFact(Peer.Tgtd | Peer.LibiscsiTools)]
    public async Task Record_tgtd_whole_suite()
    {
        await using var tgtd = await TgtdInstance.StartAsync();
        var result = await new LibiscsiTools().TestSuiteAsync(tgtd.LunUrl(), "ALL");
        Record(result);

        Assert.True(result.SummaryFound, $"iscsi-test-cu printed no CUnit summary.\n{result.Output}");
        Assert.True(result.TestsRun > 100, $"The whole suite ran only {result.TestsRun} tests.\n{result.SummaryText}");
    }

    private void Record(TestCuResult result)
    {
        _output.WriteLine(result.Describe());
        if (Environment.GetEnvironmentVariable(RecordVariable) is not { Length: > 0 } file)
            return;
        // Grouped by reason: "reason: Suite.Test, Suite.Test; reason: ...".
        string skipped = string.Join("; ", result.SkippedTests
            .GroupBy(s => s.Reason.TrimEnd('.'))
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(s => $"{s.Suite}.{s.Test}"))}"));
        string row = string.Create(CultureInfo.InvariantCulture,
            $"| {result.TestSelection} | {result.Tests?.Ran} | {result.TestsPassedNotSkipped} | {result.TestsFailed} | " +
            $"{result.TestsSkipped} | {result.Asserts?.Failed}/{result.Asserts?.Ran} | {Cell(string.Join(", ", result.FailedTests))} | {Cell(skipped)} |\n");
        lock (typeof(TgtdConformanceRecord))
            File.AppendAllText(file, row);
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace('\n', ' ');
}
