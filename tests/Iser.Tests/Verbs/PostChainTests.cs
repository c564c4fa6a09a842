using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>How many WRs of a chain count as posted, from the provider's return code and bad_wr.</summary>
public sealed unsafe class PostChainTests
{
    [Fact]
    public void SuccessPostsTheWholeChain()
    {
        IbvSendWr* chain = stackalloc IbvSendWr[3];
        Link(chain, 3);

        PostResult result = PostChain.Result(chain, null, 0);

        Assert.Equal(new PostResult(3, 3, 0), result);
        Assert.True(result.Succeeded);
        Assert.Equal(0, result.NotPosted);
    }

    [Fact]
    public void FailureCountsTheWorkRequestsBeforeBadWr()
    {
        IbvSendWr* chain = stackalloc IbvSendWr[4];
        Link(chain, 4);

        PostResult result = PostChain.Result(chain, &chain[2], 12 /* ENOMEM: send queue full */);

        Assert.Equal(2, result.Posted);
        Assert.Equal(4, result.Requested);
        Assert.Equal(2, result.NotPosted);
        Assert.False(result.Succeeded);
        Assert.Equal("ibv_post_send failed: Cannot allocate memory (errno 12); 2 of 4 work requests were posted.", result.ErrorText("ibv_post_send"));
        VerbsException ex = Assert.Throws<VerbsException>(() => result.ThrowIfFailed("ibv_post_send"));
        Assert.Contains("2 of 4 work requests were posted", ex.Message);
    }

    [Fact]
    public void FailureOnTheFirstReceiveMeansNothingWasPosted()
    {
        IbvRecvWr* chain = stackalloc IbvRecvWr[2];
        chain[0].Next = &chain[1];

        Assert.Equal(new PostResult(0, 2, 22), PostChain.Result(chain, chain, 22));
    }

    [Fact]
    public void FailureWithoutBadWrIsTakenAsNothingPosted()
    {
        IbvRecvWr* chain = stackalloc IbvRecvWr[2];
        chain[0].Next = &chain[1];

        Assert.Equal(new PostResult(0, 2, 22), PostChain.Result(chain, null, 22));
    }

    private static void Link(IbvSendWr* chain, int count)
    {
        for (int i = 0; i < count; i++)
        {
            chain[i].WrId = (ulong)i;
            chain[i].Next = i + 1 < count ? &chain[i + 1] : null;
        }
    }
}
