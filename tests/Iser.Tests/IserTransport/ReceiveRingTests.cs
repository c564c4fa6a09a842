using System.Runtime.InteropServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The iSER receive ring without RDMA: what is posted, what is reposted, and that nothing is posted once the ring is
/// closed (a receive posted after the QP's flush may never complete, and would hold the connection and the process's
/// outstanding work request count until the drain timeout).
/// </summary>
[Collection("iSER counters")] // IserConnectionCounters are process-wide
public sealed class ReceiveRingTests : IDisposable
{
    private readonly List<IntPtr> _memory = new();
    private readonly FakeOwner _owner = new();
    private readonly WorkRequestTable _requests = new(16);
    private readonly ConnectionReferences _references = new(() => { });
    private readonly ReceivedPduDelivery _delivery = new(synchronousContinuations: false, () => null);
    private readonly ReceiveRing _ring;

    public ReceiveRingTests()
    {
        _ring = new ReceiveRing(_owner, _requests, _references, _delivery);
        for (int i = 0; i < 4; i++) _owner.Free.Enqueue(Block());
    }

    [Fact]
    public async Task A_received_PDU_is_delivered_after_its_buffer_is_posted_again()
    {
        Assert.True(_ring.Grow(2));
        Assert.Equal(2, _owner.Posts.Count);
        var (_, block) = Complete(_owner.Posts[0], out int length);

        _ring.Completed(block, length, deliver: true);

        Assert.Equal(3, _owner.Posts.Count);
        Assert.Equal(block.Address, _owner.Posts[2].Address); // the same buffer, back in the ring
        Assert.Equal(2, _ring.Posted);
        var pdu = await _delivery.ReadAsync(CancellationToken.None);
        Assert.Equal(IscsiOpcode.NopIn, pdu!.Opcode);
    }

    [Fact]
    public async Task A_receive_completing_after_close_is_not_posted_again_and_its_buffer_and_PDU_go_back()
    {
        Assert.True(_ring.Grow(2));
        var (_, block) = Complete(_owner.Posts[0], out int length);

        _ring.Close();
        _ring.Completed(block, length, deliver: true);

        Assert.Equal(2, _owner.Posts.Count); // no repost after close
        Assert.Contains(block, _owner.Returned);
        Assert.Equal(1, _ring.Posted);
        Assert.Equal(1, _requests.InUse); // only the other receive, which the flush completes
        _delivery.Complete();
        Assert.Null(await _delivery.ReadAsync(CancellationToken.None)); // nothing was delivered
        Assert.True(_ring.Grow(1)); // a grow after close posts nothing either
        Assert.Equal(2, _owner.Posts.Count);
    }

    [Fact]
    public async Task Close_returns_only_after_a_post_in_progress_on_another_thread()
    {
        using var release = new ManualResetEventSlim();
        _owner.HoldPost = release;
        var grow = Task.Run(() => _ring.Grow(1));
        Assert.True(_owner.InPost.Wait(TimeSpan.FromSeconds(10)), "the receive reached ibv_post_recv");

        var close = Task.Run(_ring.Close);
        await Task.Delay(200);
        Assert.False(close.IsCompleted, "Close returned while a receive was being posted");

        release.Set();
        await close.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await grow.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Single(_owner.Posts); // posted before the close: the disconnect's flush completes it
    }

    [Fact]
    public void A_failed_post_returns_the_buffer_slot_and_reference_and_fails_the_connection()
    {
        _owner.FailNext = true;
        Assert.True(_ring.Grow(2)); // stops at the failure: the connection is ending
        Assert.NotNull(_owner.Failure);
        Assert.Contains("ibv_post_recv", _owner.Failure!.Message);
        Assert.Equal(0, _ring.Posted);
        Assert.Equal(0, _requests.InUse);
        Assert.Equal(1, _references.Count);
        Assert.Single(_owner.Returned);
    }

    /// <summary>What the CQ thread does for a successful receive: takes the slot; the peer's PDU is in the buffer.</summary>
    private (ulong WrId, RegisteredBlock Block) Complete(FakeOwner.Post post, out int length)
    {
        var slot = _requests.Take(post.WrId);
        var nop = new Pdu { Opcode = IscsiOpcode.NopIn, Final = true, InitiatorTaskTag = 0xffffffff };
        length = IserPduCodec.Encode(nop, slot.Block.Span);
        return (post.WrId, slot.Block);
    }

    public unsafe void Dispose()
    {
        foreach (var p in _memory) NativeMemory.Free((void*)p);
    }

    private unsafe RegisteredBlock Block()
    {
        const int size = 512;
        var p = (byte*)NativeMemory.AllocZeroed(size);
        _memory.Add((IntPtr)p);
        return new RegisteredBlock(_memory.Count, p, size, lkey: 1, rkey: 2, memory: null!);
    }

    private sealed class FakeOwner : IReceiveRingOwner
    {
        public readonly record struct Post(ulong WrId, ulong Address);

        public Queue<RegisteredBlock> Free { get; } = new();
        public List<Post> Posts { get; } = new();
        public List<RegisteredBlock> Returned { get; } = new();
        public Exception? Failure { get; private set; }
        public ManualResetEventSlim InPost { get; } = new();
        public ManualResetEventSlim? HoldPost { get; set; }
        public bool FailNext { get; set; }

        public bool TryRentReceiveBuffer(out RegisteredBlock block) => Free.TryDequeue(out block);

        public void ReturnReceiveBuffer(RegisteredBlock block)
        {
            Returned.Add(block);
            Free.Enqueue(block);
        }

        public PostResult PostReceive(ulong wrId, in IbvSge sge)
        {
            InPost.Set();
            HoldPost?.Wait(TimeSpan.FromSeconds(10));
            if (FailNext)
            {
                FailNext = false;
                return new PostResult(0, 1, 12);
            }
            Posts.Add(new Post(wrId, sge.Addr));
            return new PostResult(1, 1, 0);
        }

        public void ReceiveFailed(Exception error) => Failure = error;
    }
}
