using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The iSER send queue without RDMA: what leaves in which ibv_post_send chain, which requests are signaled, in what
/// order PDUs are stamped, and what comes back when completions, failed posts or a close release requests.
/// </summary>
[Collection("iSER counters")] // IserConnectionCounters are process-wide
public sealed class SendQueueTests : IDisposable
{
    private readonly List<IntPtr> _memory = new();
    private readonly RecordingOwner _owner = new();
    private readonly WorkRequestTable _requests = new(64);
    private readonly ConnectionReferences _references = new(() => { });
    private readonly StampingHost _host = new();
    private readonly SendQueue _queue;

    public SendQueueTests() => _queue = new SendQueue(_owner, _requests, _references);

    [Fact]
    public async Task Sends_submitted_during_a_post_leave_together_in_the_next_chain_and_only_its_last_is_signaled()
    {
        using var release = new ManualResetEventSlim();
        _owner.HoldPost = release;
        var first = Task.Run(() => _queue.Send(Command(), Block(), _host, out _));
        Assert.True(_owner.InPost.Wait(TimeSpan.FromSeconds(10)), "the first send reached ibv_post_send");

        // A post is in progress on another thread: these are staged for its next chain and return at once.
        Assert.True(_queue.Send(Command(), Block(), _host, out var e2), e2?.Message);
        Assert.True(_queue.Send(Command(), Block(), _host, out var e3), e3?.Message);
        Assert.Single(_owner.Chains);
        Assert.Equal(2, _queue.StagedCount);

        release.Set();
        Assert.True(await first.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, _owner.Chains.Count);
        var chain = _owner.Chains[1];
        Assert.Equal(2, chain.Count);
        Assert.All(chain, wr => Assert.Equal(SendOpcode.Send, wr.Opcode));
        Assert.Equal(SendFlags.None, chain[0].Flags);
        Assert.Equal(SendFlags.Signaled, chain[1].Flags);
        // Stamped in the order they went on the wire.
        Assert.Equal([1u, 2u, 3u], _owner.Chains.SelectMany(c => c).Select(wr => wr.CmdSN));
        Assert.Equal(0, _queue.StagedCount);
        Assert.Equal(3, _references.Count - 1);
    }

    [Fact]
    public void A_signaled_completion_releases_the_unsignaled_requests_before_it()
    {
        _queue.BeginBatch();
        var blocks = new[] { Block(), Block(), Block() };
        foreach (var b in blocks) Assert.True(_queue.Send(Command(), b, _host, out _));
        _queue.EndBatch();
        var chain = Assert.Single(_owner.Chains);
        Assert.Equal(3, _requests.InUse);

        // What the CQ thread does with the chain's one completion (the last SEND).
        var slot = _requests.Take(chain[2].WrId);
        Assert.False(slot.Unsignaled);
        _queue.ReleaseUnsignaled(upTo: slot.Order);

        Assert.Equal(0, _requests.InUse);
        Assert.Equal([blocks[0], blocks[1]], _owner.Returned.Select(r => r.Block));
        Assert.Equal(1 + 1, _references.Count); // the open connection's and the signaled SEND's (the CQ thread drops that one)
    }

    [Fact]
    public void The_completion_thread_stages_during_its_batch_and_posts_once_at_its_end_with_writes_before_the_send()
    {
        _queue.BeginBatch();
        var writes = new[] { Block(), Block() };
        Assert.True(_queue.TryStageWrites(writes, chunk: 256, batchBytes: 400, remoteAddress: 0x1000, remoteKey: 7));
        Assert.True(_queue.Send(Command(), Block(), _host, out _));
        Assert.Empty(_owner.Chains);
        _queue.EndBatch();

        var chain = Assert.Single(_owner.Chains);
        Assert.Equal([SendOpcode.RdmaWrite, SendOpcode.RdmaWrite, SendOpcode.Send], chain.Select(wr => wr.Opcode));
        Assert.Equal([SendFlags.None, SendFlags.None, SendFlags.Signaled], chain.Select(wr => wr.Flags));
        Assert.Equal([256u, 144u], chain.Take(2).Select(wr => wr.Length));
        Assert.Equal([0x1000UL, 0x1100UL], chain.Take(2).Select(wr => wr.RemoteAddress));
    }

    [Fact]
    public void A_post_that_fails_part_way_returns_what_did_not_go_in_and_fails_the_connection()
    {
        _owner.FailNext = (posted: 1, errno: 12);
        _queue.BeginBatch();
        var blocks = new[] { Block(), Block(), Block() };
        foreach (var b in blocks) Assert.True(_queue.Send(Command(), b, _host, out _));
        _queue.EndBatch();

        Assert.NotNull(_owner.Failure);
        Assert.Contains("failed", _owner.Failure!.Message);
        Assert.Equal([blocks[1], blocks[2]], _owner.Returned.Select(r => r.Block));
        Assert.Equal(1, _requests.InUse);          // the one posted completes (flushed) later
        Assert.Equal(1 + 1, _references.Count);     // the caller's and the posted request's
    }

    [Fact]
    public void Close_posts_what_is_staged_when_asked_then_refuses_new_sends()
    {
        _queue.BeginBatch();
        Assert.True(_queue.Send(Command(), Block(), _host, out _));
        _queue.Close(postStaged: true);
        _queue.EndBatch();
        Assert.Single(Assert.Single(_owner.Chains));

        var late = Block();
        Assert.False(_queue.Send(Command(), late, _host, out var error));
        Assert.Contains("closed", error!.Message);
        Assert.Equal(late, Assert.Single(_owner.Returned).Block);
    }

    [Fact]
    public void Close_without_posting_returns_every_staged_buffer()
    {
        _queue.BeginBatch();
        var blocks = new[] { Block(), Block() };
        foreach (var b in blocks) Assert.True(_queue.Send(Command(), b, _host, out _));
        _queue.Close(postStaged: false);
        _queue.EndBatch();
        Assert.Empty(_owner.Chains);
        Assert.Equal(blocks, _owner.Returned.Select(r => r.Block));
        Assert.Equal(0, _requests.InUse);
    }

    private static Pdu Command()
    {
        var pdu = new Pdu { Opcode = IscsiOpcode.ScsiCommand, Final = true };
        pdu.InitiatorTaskTag = 0x10;
        return pdu;
    }

    private unsafe RegisteredBlock Block()
    {
        const int size = 256;
        var p = (byte*)NativeMemory.AllocZeroed(size);
        _memory.Add((IntPtr)p);
        return new RegisteredBlock(_memory.Count, p, size, lkey: 1, rkey: 2, memory: null!);
    }

    public unsafe void Dispose()
    {
        foreach (var p in _memory) NativeMemory.Free((void*)p);
    }

    /// <summary>Stamps CmdSN 1, 2, 3, ... as the core's connection does, in the order the queue asks.</summary>
    private sealed class StampingHost : IDatamoverHost
    {
        private uint _next = 1;
        public void OnSending(Pdu pdu) => pdu.Field24 = _next++;
    }

    private sealed unsafe class RecordingOwner : ISendQueueOwner
    {
        public readonly record struct Wr(ulong WrId, SendOpcode Opcode, SendFlags Flags, uint Length, ulong RemoteAddress, uint CmdSN);

        public List<List<Wr>> Chains { get; } = new();
        public List<(WorkRequestKind Kind, RegisteredBlock Block)> Returned { get; } = new();
        public DatamoverException? Failure { get; private set; }
        public ManualResetEventSlim InPost { get; } = new();
        public ManualResetEventSlim? HoldPost { get; set; }
        public (int posted, int errno)? FailNext { get; set; }

        public PostResult PostSend(IbvSendWr* chain)
        {
            var wrs = new List<Wr>();
            for (var wr = chain; wr != null; wr = wr->Next)
            {
                var sge = wr->SgList;
                // A SEND carries the iSER header and then the BHS: CmdSN is at BHS byte 24.
                uint cmdSN = wr->Opcode == SendOpcode.Send
                    ? BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>((byte*)sge->Addr + IserHeader.Length + 24, 4)) : 0;
                wrs.Add(new Wr(wr->WrId, wr->Opcode, wr->SendFlags, sge->Length, wr->RemoteAddr, cmdSN));
            }
            lock (Chains) Chains.Add(wrs);
            InPost.Set();
            HoldPost?.Wait(TimeSpan.FromSeconds(10));
            HoldPost = null;
            if (FailNext is { } f)
            {
                FailNext = null;
                return new PostResult(f.posted, wrs.Count, f.errno);
            }
            return new PostResult(wrs.Count, wrs.Count, 0);
        }

        public void ReturnBuffer(WorkRequestKind kind, RegisteredBlock block)
        {
            lock (Returned) Returned.Add((kind, block));
        }

        public void PostFailed(DatamoverException error) => Failure = error;
    }
}
