using System.Globalization;
using System.Text.RegularExpressions;

namespace Iser.Tests.Peers;

/// <summary>One row of CUnit's "Run Summary" table (suites, tests or asserts). Passed is null for suites ("n/a").</summary>
public sealed record CUnitCounts(int Total, int Ran, int? Passed, int Failed, int? Inactive);

/// <summary>A test libiscsi's iscsi-test-cu reported as skipped, with its first stated reason.</summary>
public sealed record SkippedTest(string Suite, string Test, string Reason);

/// <summary>
/// What one iscsi-test-cu run reported: the CUnit summary counts, the tests that failed and the tests that were
/// skipped (libiscsi marks those "[SKIPPED]" and lets them pass, so CUnit's counts alone hide them).
/// </summary>
public sealed partial record TestCuResult(
    string TestSelection,
    int ExitCode,
    CUnitCounts? Suites,
    CUnitCounts? Tests,
    CUnitCounts? Asserts,
    IReadOnlyList<string> FailedTests,
    IReadOnlyList<SkippedTest> SkippedTests,
    IReadOnlyList<string> AllTests,
    string Output)
{
    public bool SummaryFound => Tests is not null && Asserts is not null;

    public int TestsRun => Tests?.Ran ?? 0;
    public int TestsFailed => Tests?.Failed ?? 0;
    public int TestsPassed => Tests?.Passed ?? 0;
    public int TestsSkipped => SkippedTests.Count;

    /// <summary>Passed CUnit tests that did not skip: the ones that really checked the target.</summary>
    public int TestsPassedNotSkipped => TestsPassed - SkippedTests.Count(s => !FailedTests.Contains($"{s.Suite}.{s.Test}"));

    /// <summary>The "Run Summary" block as printed.</summary>
    public string SummaryText
    {
        get
        {
            int start = Output.IndexOf("Run Summary:", StringComparison.Ordinal);
            if (start < 0)
                return "(no CUnit Run Summary in the output)";
            int end = Output.IndexOf("Elapsed time", start, StringComparison.Ordinal);
            return (end < 0 ? Output[start..] : Output[start..end]).TrimEnd();
        }
    }

    /// <summary>The output of the failed and skipped tests only, each under its "Suite.Test" heading.</summary>
    public string FailingOutput => string.Join("\n", _sections
        .Where(s => FailedTests.Contains(s.Name) || SkippedTests.Any(k => $"{k.Suite}.{k.Test}" == s.Name))
        .Select(s => s.Text));

    public string Describe() =>
        $"iscsi-test-cu {TestSelection}: exit {ExitCode}; {SummaryText}\n" +
        $"skipped ({SkippedTests.Count}): {string.Join(", ", SkippedTests.Select(s => $"{s.Suite}.{s.Test} ({s.Reason})"))}\n" +
        $"failed ({FailedTests.Count}): {string.Join(", ", FailedTests)}\n{FailingOutput}";

    private IReadOnlyList<TestSection> _sections = Array.Empty<TestSection>();

    private sealed record TestSection(string Name, string Text);

    /// <summary>Parses iscsi-test-cu's verbose (default) output.</summary>
    public static TestCuResult Parse(string testSelection, int exitCode, string output)
    {
        var sections = new List<TestSection>();
        var failed = new List<string>();
        var skipped = new List<SkippedTest>();
        string suite = "";
        string? test = null;
        var text = new System.Text.StringBuilder();
        bool testFailed = false;
        string? skipReason = null;

        void CloseTest()
        {
            if (test is null)
                return;
            string name = $"{suite}.{test}";
            sections.Add(new TestSection(name, text.ToString().TrimEnd()));
            if (testFailed)
                failed.Add(name);
            if (skipReason is not null)
                skipped.Add(new SkippedTest(suite, test, skipReason));
            test = null;
            text.Clear();
            testFailed = false;
            skipReason = null;
        }

        CUnitCounts? suites = null, tests = null, asserts = null;
        foreach (string line in output.Split('\n', '\r'))
        {
            if (SuiteLine().Match(line) is { Success: true } suiteMatch)
            {
                CloseTest();
                suite = suiteMatch.Groups[1].Value.Trim();
                continue;
            }
            if (TestLine().Match(line) is { Success: true } testMatch)
            {
                CloseTest();
                test = testMatch.Groups[1].Value.Trim();
            }
            if (line.StartsWith("Run Summary:", StringComparison.Ordinal))
                CloseTest();
            if (SummaryRow().Match(line) is { Success: true } row)
            {
                var counts = new CUnitCounts(Int(row.Groups[2]), Int(row.Groups[3]), OptionalInt(row.Groups[4]),
                    Int(row.Groups[5]), OptionalInt(row.Groups[6]));
                switch (row.Groups[1].Value)
                {
                    case "suites": suites = counts; break;
                    case "tests": tests = counts; break;
                    case "asserts": asserts = counts; break;
                }
                continue;
            }
            if (test is null)
                continue;
            text.Append(line).Append('\n');
            // CUnit ends a test with "passed" or "FAILED"; libiscsi's own "[FAILED] why" lines and CUnit's numbered
            // failure records ("    1. file.c:38  - CU_ASSERT...") also mark a failure.
            if (ResultFailed().IsMatch(line) || FailureRecord().IsMatch(line))
                testFailed = true;
            if (skipReason is null && SkipMarker().Match(line) is { Success: true } skip)
                skipReason = skip.Groups[1].Value.Trim();
        }
        CloseTest();

        return new TestCuResult(testSelection, exitCode, suites, tests, asserts, failed, skipped,
            sections.Select(s => s.Name).ToArray(), output) { _sections = sections };
    }

    private static int Int(Group group) => int.Parse(group.Value, CultureInfo.InvariantCulture);

    private static int? OptionalInt(Group group) =>
        int.TryParse(group.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : null;

    [GeneratedRegex(@"^Suite: (.+)$")]
    private static partial Regex SuiteLine();

    [GeneratedRegex(@"^  Test: (\S+) \.\.\.")]
    private static partial Regex TestLine();

    [GeneratedRegex(@"^\s+(suites|tests|asserts)\s+(\d+)\s+(\d+)\s+(\d+|n/a)\s+(\d+)\s+(\d+|n/a)\s*$")]
    private static partial Regex SummaryRow();

    [GeneratedRegex(@"(^|\.\.\.|\s)FAILED\s*$")]
    private static partial Regex ResultFailed();

    [GeneratedRegex(@"^\s+\d+\. \S+:\d+\s+- ")]
    private static partial Regex FailureRecord();

    [GeneratedRegex(@"\[SKIPPED\]\s*(.*)$")]
    private static partial Regex SkipMarker();
}
