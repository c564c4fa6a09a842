using System.Diagnostics;
using Iser.Tests.Peers;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// libiscsi's conformance suite (iscsi-test-cu) against our target over iser://, family by family as the TCP
/// <see cref="ConformanceTests"/> run it: each family on a fresh in-process target with a fresh 64 MiB RAM LUN
/// (cheap here: no process start, which is what makes per-family targets slow in the TCG guest). Every test of every
/// applicable family must run, none may fail, none may skip; afterwards no session or iSER resource may be left.
/// The few tests libiscsi's own iSER transport cannot pass (<see cref="IserConformanceFamilies.KnownLibiscsiIserFaults"/>)
/// are run on their own: they must still fail over iSER (else the entry is stale) and pass over TCP against the same
/// target with the same binary, which shows the fault is not the target's. The rest of such a family runs test by test,
/// so one failing test cannot hide the others.
/// Needs a libiscsi whose iSER transport survives the suite (<see cref="IserCapableLibiscsi"/>): Debian 12's 1.19 does not.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class LibiscsiConformanceOverIserLabTests(ITestOutputHelper output)
{
    [IserConformanceFact]
    public async Task EveryApplicableFamilyPassesOverIserWithNoFailuresAndNoSkips()
    {
        string testCu = IserCapableLibiscsi.TestCu ?? throw new InvalidOperationException(IserCapableLibiscsi.UnusableReason);
        output.WriteLine($"iscsi-test-cu: {testCu}");
        foreach (var (family, reason) in IserConformanceFamilies.NotApplicable)
            output.WriteLine($"not run over iSER: {family}: {reason}");
        var listed = await ListTestsAsync(testCu);

        var problems = new List<string>();
        var total = Stopwatch.StartNew();
        int testsRun = 0;
        foreach (string family in IserConformanceFamilies.All)
        {
            var sw = Stopwatch.StartNew();
            var faults = IserConformanceFamilies.KnownLibiscsiIserFaults.Keys.Where(t => t.StartsWith(family + ".", StringComparison.Ordinal)).ToHashSet();
            await using var target = InProcessIserTarget.Start(alsoTcp: faults.Count > 0);
            if (testsRun == 0)
                await target.WarmUpAsync(); // JIT the target's paths once: libiscsi's iSER loop is impatient
            string[] selections = faults.Count == 0
                ? [family]
                : listed.Where(t => t.StartsWith(family + ".", StringComparison.Ordinal) && !faults.Contains(t)).ToArray();
            if (selections.Length == 0 && faults.Count == 0)
                problems.Add($"{family}: iscsi-test-cu --list names no test in it");
            foreach (string selection in selections)
            {
                var (result, problem) = await RunCleanAsync(testCu, target.LunUrl, selection);
                testsRun += result?.TestsRun ?? 0;
                if (result is not null)
                    output.WriteLine($"{selection}: {result.TestsRun} run, {result.TestsFailed} failed, {result.TestsSkipped} skipped, exit {result.ExitCode}");
                if (problem is not null)
                {
                    problems.Add($"{selection}: {problem}");
                    if (result is not null) output.WriteLine(result.Describe());
                    output.WriteLine("target warnings:\n" + target.Warnings);
                }
            }
            foreach (string fault in faults.Order())
            {
                string? problem = await CheckKnownFaultAsync(testCu, target, fault, IserConformanceFamilies.KnownLibiscsiIserFaults[fault]);
                if (problem is not null) problems.Add($"{fault}: {problem}");
            }
            try
            {
                await target.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
            }
            catch (Xunit.Sdk.XunitException e)
            {
                problems.Add($"{family}: resources left after the run: {e.Message}");
            }
            output.WriteLine($"{family}: {sw.Elapsed.TotalSeconds:0.0} s");
        }
        output.WriteLine($"{IserConformanceFamilies.All.Count} families, {testsRun} tests run cleanly over iSER, " +
            $"{IserConformanceFamilies.KnownLibiscsiIserFaults.Count} libiscsi iSER faults checked, {total.Elapsed.TotalSeconds:0} s");
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    /// <summary>Runs a family or one test; the problem, if any: no summary, nothing run, a failure, a skip, a bad exit.</summary>
    private static async Task<(TestCuResult? Result, string? Problem)> RunCleanAsync(string testCu, string url, string selection)
    {
        TestCuResult result;
        try
        {
            result = await RunAsync(testCu, url, selection);
        }
        catch (TimeoutException e)
        {
            return (null, e.Message);
        }
        string? problem =
            !result.SummaryFound ? "iscsi-test-cu printed no CUnit summary" :
            result.TestsRun == 0 ? "no test ran" :
            result.TestsFailed != 0 || result.FailedTests.Count != 0 ? $"{result.FailedTests.Count} test(s) failed: {string.Join(", ", result.FailedTests)}" :
            result.SkippedTests.Count != 0 ? $"{result.SkippedTests.Count} test(s) skipped: {string.Join(", ", result.SkippedTests.Select(k => $"{k.Test} ({k.Reason})"))}" :
            result.ExitCode != 0 ? $"exit code {result.ExitCode}" : null;
        return (result, problem);
    }

    /// <summary>A known libiscsi iSER fault must still fail over iSER, and pass over TCP (unless broken there too).</summary>
    private async Task<string?> CheckKnownFaultAsync(string testCu, InProcessIserTarget target, string test, IserConformanceFamilies.LibiscsiFault fault)
    {
        TestCuResult overIser, overTcp;
        try
        {
            overIser = await RunAsync(testCu, target.LunUrl, test);
            overTcp = await RunAsync(testCu, target.TcpLunUrl, test);
        }
        catch (TimeoutException e)
        {
            return e.Message;
        }
        // Failing counts a crash (no summary, a non-zero exit: SendTargets.Invalid) as well as a failed assertion.
        bool failedOverIser = overIser.SummaryFound
            ? overIser.TestsRun == 1 && (overIser.TestsFailed > 0 || overIser.FailedTests.Count > 0)
            : overIser.ExitCode != 0;
        bool passedOverTcp = overTcp.SummaryFound && overTcp.TestsRun == 1 && overTcp.TestsFailed == 0 && overTcp.FailedTests.Count == 0
            && overTcp.SkippedTests.Count == 0;
        output.WriteLine($"{test}: libiscsi iSER fault: over iSER {(failedOverIser ? "fails" : "does not fail")}, over TCP " +
            $"{(passedOverTcp ? "passes" : "does not pass")} ({fault.Reason})");
        if (!failedOverIser)
        {
            output.WriteLine(overIser.Describe());
            return "listed as a libiscsi iSER fault but did not fail over iSER: remove it from KnownLibiscsiIserFaults (or it did not run)";
        }
        if (fault.FailsOverTcpToo ? passedOverTcp || !overTcp.SummaryFound || overTcp.TestsRun != 1 : !passedOverTcp)
        {
            output.WriteLine(overTcp.Describe());
            return fault.FailsOverTcpToo
                ? "listed as failing over TCP too, but over TCP it " + (passedOverTcp ? "passed" : "did not run")
                : "fails over TCP against the same target too: the target is at fault, not libiscsi's iSER transport";
        }
        return null;
    }

    /// <summary>iscsi-test-cu --list: every FAMILY.SUITE.TEST name this build has.</summary>
    private static async Task<IReadOnlyList<string>> ListTestsAsync(string testCu)
    {
        var result = await ExternalProcess.RunAsync(testCu, ["--list"], TimeSpan.FromSeconds(60), IserCapableLibiscsi.RunEnvironment);
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.Count(c => c == '.') == 2).ToArray();
    }

    /// <summary>What <see cref="LibiscsiTools.TestSuiteAsync"/> runs, with the iSER-capable binary and its library.</summary>
    private static async Task<TestCuResult> RunAsync(string testCu, string lunUrl, string selection)
    {
        string[] arguments =
        [
            "-i", LibiscsiTools.DefaultInitiatorIqn, "-I", LibiscsiTools.DefaultSecondInitiatorIqn,
            $"--test={selection}", "--dataloss", lunUrl,
        ];
        var result = await ExternalProcess.RunAsync(testCu, arguments, TimeSpan.FromSeconds(150), IserCapableLibiscsi.RunEnvironment);
        return TestCuResult.Parse(selection, result.ExitCode, result.Transcript);
    }
}
