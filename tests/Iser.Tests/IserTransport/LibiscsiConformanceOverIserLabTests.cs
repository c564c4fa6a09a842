using System.Diagnostics;
using Iser.Tests.Peers;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// libiscsi's conformance suite (iscsi-test-cu) against our target over iser://, family by family as the TCP
/// <see cref="ConformanceTests"/> run it: each family on a fresh in-process target with a fresh 64 MiB RAM LUN
/// (cheap here: no process start, which is what makes per-family targets slow in the TCG guest). Every test of every
/// applicable family must run, none may fail, none may skip; afterwards no session or iSER resource may be left.
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

        var problems = new List<string>();
        var total = Stopwatch.StartNew();
        int testsRun = 0;
        foreach (string family in IserConformanceFamilies.All)
        {
            var sw = Stopwatch.StartNew();
            await using var target = InProcessIserTarget.Start();
            if (testsRun == 0)
                await target.WarmUpAsync(); // JIT the target's paths once: libiscsi's iSER loop is impatient
            TestCuResult result;
            try
            {
                result = await RunFamilyAsync(testCu, target.LunUrl, family);
            }
            catch (TimeoutException e)
            {
                problems.Add($"{family}: {e.Message}");
                continue;
            }
            testsRun += result.TestsRun;
            output.WriteLine($"{family}: {result.TestsRun} run, {result.TestsFailed} failed, {result.TestsSkipped} skipped, exit {result.ExitCode}, {sw.Elapsed.TotalSeconds:0.0} s");
            string? problem =
                !result.SummaryFound ? "iscsi-test-cu printed no CUnit summary" :
                result.TestsRun == 0 ? "no test ran" :
                result.TestsFailed != 0 || result.FailedTests.Count != 0 ? $"{result.FailedTests.Count} test(s) failed" :
                result.SkippedTests.Count != 0 ? $"{result.SkippedTests.Count} test(s) skipped" :
                result.ExitCode != 0 ? $"exit code {result.ExitCode}" : null;
            if (problem is null)
            {
                try
                {
                    await target.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
                }
                catch (Xunit.Sdk.XunitException e)
                {
                    problem = "resources left after the run: " + e.Message;
                }
            }
            if (problem is not null)
            {
                problems.Add($"{family}: {problem}");
                output.WriteLine(result.Describe());
                if (!result.SummaryFound)
                    output.WriteLine(result.Output.Length > 4000 ? result.Output[^4000..] : result.Output);
                output.WriteLine("target warnings:\n" + target.Warnings);
            }
        }
        output.WriteLine($"{IserConformanceFamilies.All.Count} families, {testsRun} tests, {total.Elapsed.TotalSeconds:0} s");
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    /// <summary>What <see cref="LibiscsiTools.TestSuiteAsync"/> runs, with the iSER-capable binary and its library.</summary>
    private static async Task<TestCuResult> RunFamilyAsync(string testCu, string lunUrl, string family)
    {
        string[] arguments =
        [
            "-i", LibiscsiTools.DefaultInitiatorIqn, "-I", LibiscsiTools.DefaultSecondInitiatorIqn,
            $"--test={family}", "--dataloss", lunUrl,
        ];
        var result = await ExternalProcess.RunAsync(testCu, arguments, TimeSpan.FromSeconds(150), IserCapableLibiscsi.RunEnvironment);
        return TestCuResult.Parse(family, result.ExitCode, result.Transcript);
    }
}
