namespace Iser.Tests.Peers;

/// <summary>
/// The iscsi-test-cu parser on output shaped exactly as libiscsi 1.19 prints it (verbose CUnit mode): a skipped
/// test that CUnit counts as passed, a failed one with libiscsi's [FAILED] line and CUnit's failure record.
/// </summary>
public sealed class TestCuResultParserTests
{
    private const string Output = """



             CUnit - A unit testing framework for C - Version 2.1-3
             http://cunit.sourceforge.net/


        Suite: GetLBAStatus
          Test: Simple ...passed
          Test: BeyondEol ...    [FAILED] GET_LBA_STATUS successful but should have failed with ILLEGAL_REQUEST(0x05)/LBA_OUT_OF_RANGE(0x2100)
        FAILED
            1. test_get_lba_status_beyond_eol.c:38  - CU_ASSERT_EQUAL(_r,0)
          Test: UnmapSingle ...    [SKIPPED] Logical unit is fully provisioned. Skipping test
        passed

        Run Summary:    Type  Total    Ran Passed Failed Inactive
                      suites      1      1    n/a      0        0
                       tests      3      3      2      1        0
                     asserts     40     40     39      1      n/a

        Elapsed time =    0.010 seconds
        """;

    [Fact]
    public void Counts_come_from_the_cunit_summary()
    {
        var result = TestCuResult.Parse("SCSI.GetLBAStatus", 0, Output.Replace("\r\n", "\n"));
        Assert.True(result.SummaryFound);
        Assert.Equal(new CUnitCounts(1, 1, null, 0, 0), result.Suites);
        Assert.Equal(new CUnitCounts(3, 3, 2, 1, 0), result.Tests);
        Assert.Equal(new CUnitCounts(40, 40, 39, 1, null), result.Asserts);
    }

    [Fact]
    public void Failed_and_skipped_tests_are_named_with_their_suite()
    {
        var result = TestCuResult.Parse("SCSI.GetLBAStatus", 0, Output.Replace("\r\n", "\n"));
        Assert.Equal(new[] { "GetLBAStatus.Simple", "GetLBAStatus.BeyondEol", "GetLBAStatus.UnmapSingle" }, result.AllTests);
        Assert.Equal(new[] { "GetLBAStatus.BeyondEol" }, result.FailedTests);
        var skipped = Assert.Single(result.SkippedTests);
        Assert.Equal(new SkippedTest("GetLBAStatus", "UnmapSingle", "Logical unit is fully provisioned. Skipping test"), skipped);
        Assert.Equal(1, result.TestsPassedNotSkipped);
        Assert.Contains("test_get_lba_status_beyond_eol.c:38", result.FailingOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Simple", result.FailingOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Output_without_a_summary_is_reported_as_such()
    {
        var result = TestCuResult.Parse("SCSI.Inquiry", 255, "Failed to login to target: connection refused\n");
        Assert.False(result.SummaryFound);
        Assert.Equal(0, result.TestsRun);
        Assert.Contains("no CUnit Run Summary", result.SummaryText, StringComparison.Ordinal);
    }
}
