using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

public sealed class WorkCompletionStatusTextTests
{
    [Theory]
    [InlineData(0, "IBV_WC_SUCCESS")]
    [InlineData(5, "IBV_WC_WR_FLUSH_ERR")]
    [InlineData(10, "IBV_WC_REM_ACCESS_ERR")]
    [InlineData(12, "IBV_WC_RETRY_EXC_ERR")]
    [InlineData(13, "IBV_WC_RNR_RETRY_EXC_ERR")]
    [InlineData(23, "IBV_WC_TM_RNDV_INCOMPLETE")]
    public void NamesFollowVerbsH(int value, string expected)
    {
        Assert.Equal(expected, WorkCompletionStatusText.Name((WorkCompletionStatus)value));
    }

    [Fact]
    public void EveryStatusHasItsOwnNameAndSentence()
    {
        WorkCompletionStatus[] all = Enum.GetValues<WorkCompletionStatus>();
        Assert.Equal(24, all.Length);
        Assert.Equal(all.Length, all.Select(WorkCompletionStatusText.Name).Distinct().Count());
        Assert.Equal(all.Length, all.Select(WorkCompletionStatusText.Sentence).Distinct().Count());
        Assert.All(all, s => Assert.StartsWith("IBV_WC_", WorkCompletionStatusText.Name(s)));
        Assert.All(all, s => Assert.EndsWith(".", WorkCompletionStatusText.Sentence(s)));
    }

    [Fact]
    public void FlushErrorSaysTheQueuePairEnteredTheErrorState()
    {
        IbvWc wc = new() { Status = WorkCompletionStatus.WrFlushErr, VendorErr = 0x244 };

        Assert.False(wc.IsSuccess);
        Assert.Equal(
            "IBV_WC_WR_FLUSH_ERR: The work request was flushed because the queue pair entered the error state (for example after a disconnect). (vendor error 0x244)",
            wc.StatusText);
    }

    [Fact]
    public void UnknownValuesAreShownWithTheirNumber()
    {
        Assert.Equal("IBV_WC_(99)", WorkCompletionStatusText.Name((WorkCompletionStatus)99));
        Assert.Equal("IBV_WC_(99): An unknown work completion status.", WorkCompletionStatusText.Describe((WorkCompletionStatus)99));
    }
}
