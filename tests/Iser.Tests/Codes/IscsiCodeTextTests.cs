using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Codes;

/// <summary>Every RFC 7143 code has its own non-empty sentence, and the enum values are the RFC's numbers.</summary>
public class IscsiCodeTextTests
{
    private static void AssertDistinctSentences<T>(Func<T, string> describe, int expectedCount) where T : struct, Enum
    {
        var values = Enum.GetValues<T>();
        Assert.Equal(expectedCount, values.Length);
        var texts = values.Select(describe).ToList();
        Assert.All(texts, t => { Assert.False(string.IsNullOrWhiteSpace(t)); Assert.EndsWith(".", t); });
        Assert.Equal(values.Length, texts.Distinct().Count());
    }

    [Fact]
    public void RejectReasons_0x02To0x0C()
    {
        AssertDistinctSentences<RejectReason>(r => r.Describe(), 11);
        Assert.Equal(Enumerable.Range(2, 11).Select(i => (byte)i), Enum.GetValues<RejectReason>().Select(r => (byte)r));
        Assert.Equal(0x02, (byte)RejectReason.DataDigestError);
        Assert.Equal(0x09, (byte)RejectReason.InvalidPduField);
        Assert.Equal(0x0c, (byte)RejectReason.WaitingForLogout);
        Assert.Contains("data digest", RejectReason.DataDigestError.Describe());
        Assert.Contains("0x01", ((RejectReason)0x01).Describe());
        // RFC 7143 §11.17.1: only these four may be resent.
        Assert.Equal(
            [RejectReason.DataDigestError, RejectReason.SnackReject, RejectReason.ImmediateCommandReject, RejectReason.LongOperationReject],
            Enum.GetValues<RejectReason>().Where(r => r.MayResend()));
    }

    [Fact]
    public void ScsiResponseCodes()
    {
        AssertDistinctSentences<ScsiResponseCode>(c => c.Describe(), 2);
        Assert.Equal(0x01, (byte)ScsiResponseCode.TargetFailure);
        Assert.Contains("vendor-specific", ((ScsiResponseCode)0x85).Describe());
        Assert.Contains("reserves", ((ScsiResponseCode)0x02).Describe());
    }

    [Fact]
    public void TaskManagementFunctions_1To8()
    {
        AssertDistinctSentences<TaskManagementFunction>(f => f.Describe(), 8);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (byte)i), Enum.GetValues<TaskManagementFunction>().Select(f => (byte)f));
        Assert.Equal(8, Enum.GetValues<TaskManagementFunction>().Select(f => f.Name()).Distinct().Count());
        Assert.Equal("LOGICAL UNIT RESET", TaskManagementFunction.LogicalUnitReset.Name());
        Assert.Equal(5, (byte)TaskManagementFunction.LogicalUnitReset);
    }

    [Fact]
    public void TaskManagementResponses()
    {
        AssertDistinctSentences<TaskManagementResponse>(r => r.Describe(), 8);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 5, 6, 255 }, Enum.GetValues<TaskManagementResponse>().Select(r => (byte)r));
        Assert.Contains("does not exist", TaskManagementResponse.TaskDoesNotExist.Describe());
    }

    [Fact]
    public void AsyncEvents()
    {
        AssertDistinctSentences<AsyncEvent>(e => e.Describe(), 6);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 255 }, Enum.GetValues<AsyncEvent>().Select(e => (byte)e));
        Assert.Contains("reserves", ((AsyncEvent)7).Describe());
    }

    [Fact]
    public void LogoutReasonsAndResponses()
    {
        AssertDistinctSentences<LogoutReason>(r => r.Describe(), 3);
        AssertDistinctSentences<LogoutResponse>(r => r.Describe(), 4);
        Assert.Equal(2, (byte)LogoutReason.RemoveConnectionForRecovery);
        Assert.Equal(3, (byte)LogoutResponse.CleanupFailed);
    }

    [Fact]
    public void SnackTypes()
    {
        AssertDistinctSentences<SnackType>(t => t.Describe(), 4);
        Assert.Equal(3, (byte)SnackType.RData);
    }
}
