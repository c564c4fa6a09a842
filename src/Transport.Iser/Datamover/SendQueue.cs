using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>What a <see cref="SendQueue"/> needs from its connection; unit tests drive the queue through a fake.</summary>
internal unsafe interface ISendQueueOwner
{
    /// <summary>ibv_post_send of a chain: how many went in (all on success) and the errno.</summary>
    PostResult PostSend(IbvSendWr* chain);

    /// <summary>A request that will never complete (not posted, or released by a later completion): its buffer and credit.</summary>
    void ReturnBuffer(WorkRequestKind kind, RegisteredBlock block);

    /// <summary>A post failed: the connection cannot go on (it closes this queue).</summary>
    void PostFailed(DatamoverException error);
}

/// <summary>
/// A connection's send queue on the way to ibv_post_send. Requests are staged in order (control PDUs as SENDs,
/// stamped with their sequence numbers as they are staged, so wire order is stamping order; RDMA WRITEs of read data
/// in front of the SCSI Response that follows them) and leave in chains: one ibv_post_send, one doorbell, per chain.
/// <para>One poster at a time, and never under the lock: a thread that stages while another posts leaves its request
/// to that poster, which takes everything staged meanwhile in its next chain (flat combining), so commands submitted
/// during a post share the next doorbell. The CQ thread, inside a completion batch (<see cref="BeginBatch"/>), only
/// stages; the batch's end posts. On soft-RoCE each post is a system call that also runs the provider's requester:
/// one post per batch instead of one per PDU is the largest saving per I/O.</para>
/// <para>Only the last SEND of a chain is signaled: a send queue completes in order, so its completion reports the
/// requests before it (rxe then builds one completion per chain). The unsignaled requests are listed in post order
/// (the unsignaled ring) and released when a completion covers them (<see cref="ReleaseUnsignaled"/>); one that fails
/// or is flushed still completes on its own.</para>
/// </summary>
/// <remarks>
/// States of the poster role, all changed under <c>_gate</c>:
/// <code>
///   idle --(a thread stages outside a batch, or a batch ends with requests staged)--> posting
///   posting --(the poster finds nothing staged)--> idle        (closing: --> closed, staged requests released)
///   idle --Close--> closed (staged requests posted first when asked and the queue has not failed)
/// </code>
/// </remarks>
internal sealed unsafe class SendQueue
{
    internal struct StagedRequest
    {
        public WorkRequestKind Kind; // Send or RdmaWrite
        public RegisteredBlock Block;
        public int Length;
        public ulong RemoteAddress;
        public uint RemoteKey;
    }

    private readonly ISendQueueOwner _owner;
    private readonly WorkRequestTable _requests;
    private readonly ConnectionReferences _references;
    private readonly Lock _gate = new();
    private readonly StagedRequest[] _staged;
    private int _stagedCount;
    private bool _posting;
    private Thread? _poster;
    private bool _closing;
    private bool _closed;

    // The poster's own: the chain being posted (pinned, used outside the lock only by the one poster).
    private readonly StagedRequest[] _chainRequests;
    private readonly IbvSendWr[] _chain;
    private readonly IbvSge[] _chainSges;
    private readonly ulong[] _chainIds;

    // Unsignaled wr_ids in post order: written under _gate, read and released by the CQ thread.
    private readonly ulong[] _unsignaled;
    private long _unsignaledPosted;
    private long _unsignaledReleased; // CQ thread only

    // The queue whose completion batch this thread is handling: what it stages waits for the batch's end.
    [ThreadStatic] private static SendQueue? t_batching;

    public SendQueue(ISendQueueOwner owner, WorkRequestTable requests, ConnectionReferences references)
    {
        _owner = owner;
        _requests = requests;
        _references = references;
        int capacity = requests.Capacity;
        _staged = new StagedRequest[capacity];
        _chainRequests = new StagedRequest[capacity];
        _chain = GC.AllocateArray<IbvSendWr>(capacity, pinned: true);
        _chainSges = GC.AllocateArray<IbvSge>(capacity, pinned: true);
        _chainIds = new ulong[capacity];
        _unsignaled = new ulong[capacity];
    }

    /// <summary>Requests staged and not yet handed to a post.</summary>
    public int StagedCount => Volatile.Read(ref _stagedCount);

    /// <summary>
    /// Stamps <paramref name="pdu"/> (<paramref name="host"/>), encodes it into <paramref name="block"/> and sends it, in
    /// one order. False with the reason when it could not be staged or posted; the block went back through the owner.
    /// True may still be followed by a failed post of another thread's chain, which fails the connection.
    /// </summary>
    public bool Send(Pdu pdu, RegisteredBlock block, IDatamoverHost? host, out Exception? error)
    {
        lock (_gate)
        {
            if (_closing)
            {
                _owner.ReturnBuffer(WorkRequestKind.Send, block);
                error = new DatamoverException("The iSER connection is closed; PDU not sent.");
                return false;
            }
            if (_stagedCount == _staged.Length)
            {
                _owner.ReturnBuffer(WorkRequestKind.Send, block);
                error = new DatamoverException("Every send queue slot is staged; the send queue is full.");
                return false;
            }
            host?.OnSending(pdu);
            int length;
            try
            {
                length = IserPduCodec.Encode(pdu, block.Span);
            }
            catch (Exception e)
            {
                _owner.ReturnBuffer(WorkRequestKind.Send, block);
                error = e;
                return false;
            }
            _staged[_stagedCount++] = new StagedRequest { Kind = WorkRequestKind.Send, Block = block, Length = length };
            error = null;
            if (ReferenceEquals(t_batching, this) || _posting) return true;
            BecomePoster();
        }
        return PostAll(out error);
    }

    /// <summary>
    /// Stages RDMA WRITEs of <paramref name="blocks"/> (each <paramref name="chunk"/> bytes of <paramref name="batchBytes"/>)
    /// to ride in front of the SEND that follows them. False (nothing staged) when closed or without room: the caller
    /// posts them itself.
    /// </summary>
    public bool TryStageWrites(ReadOnlySpan<RegisteredBlock> blocks, int chunk, int batchBytes, ulong remoteAddress, uint remoteKey)
    {
        lock (_gate)
        {
            if (_closing || _stagedCount + blocks.Length > _staged.Length) return false;
            for (int i = 0, off = 0; i < blocks.Length; i++, off += chunk)
            {
                _staged[_stagedCount++] = new StagedRequest
                {
                    Kind = WorkRequestKind.RdmaWrite, Block = blocks[i], Length = Math.Min(chunk, batchBytes - off),
                    RemoteAddress = remoteAddress + (ulong)off, RemoteKey = remoteKey,
                };
            }
            return true;
        }
    }

    /// <summary>A batch starts (the CQ thread's completions, a run of thread-pool continuations): what this thread stages until <see cref="EndBatch"/> is posted then.</summary>
    public void BeginBatch() => t_batching = this;

    /// <summary>End of a batch: posts what is staged unless a poster is at work (it takes them).</summary>
    public void EndBatch()
    {
        t_batching = null;
        Flush();
    }

    /// <summary>Any thread: posts what is staged unless a poster is at work (a batch's thread that is stuck holds nothing back).</summary>
    public void Flush()
    {
        // What this batch staged, this thread sees without the lock; what other threads stage they post themselves.
        if (Volatile.Read(ref _stagedCount) == 0) return;
        lock (_gate)
        {
            if (_posting || _closing || _stagedCount == 0) return;
            BecomePoster();
        }
        PostAll(out _); // a failure fails the connection; the callers already moved on
    }

    /// <summary>
    /// No more requests. With <paramref name="postStaged"/> what is staged goes out first (a close of our own after a
    /// Logout Response); otherwise it is released. Waits for another thread's post in progress to end, so nothing is
    /// posted after this returns (except by this thread's own post, when it is the poster closing on a failed post).
    /// </summary>
    public void Close(bool postStaged)
    {
        bool post = false;
        lock (_gate)
        {
            if (_closing) return;
            _closing = true;
            if (!_posting)
            {
                if (postStaged && _stagedCount > 0)
                {
                    BecomePoster();
                    post = true;
                }
                else
                {
                    ReleaseStagedLocked();
                    _closed = true;
                    return;
                }
            }
            else if (!postStaged)
            {
                ReleaseStagedLocked(); // the poster finds nothing more and closes
            }
        }
        if (post)
        {
            PostAll(out _);
            return;
        }
        if (ReferenceEquals(Volatile.Read(ref _poster), Thread.CurrentThread)) return;
        var spinner = new SpinWait();
        while (!Volatile.Read(ref _closed)) spinner.SpinOnce(sleep1Threshold: -1);
    }

    /// <summary>
    /// CQ thread: the unsignaled requests before list position <paramref name="upTo"/> completed (a signaled SEND behind
    /// them completed, or one of them failed or was flushed): their slots, buffers and references go back.
    /// </summary>
    public void ReleaseUnsignaled(long upTo)
    {
        long posted = Volatile.Read(ref _unsignaledPosted);
        if (upTo > posted) upTo = posted;
        while (_unsignaledReleased < upTo)
        {
            var slot = _requests.Take(_unsignaled[_unsignaledReleased % _unsignaled.Length]);
            _unsignaledReleased++;
            IserConnectionCounters.Completed();
            _owner.ReturnBuffer(slot.Kind, slot.Block);
            _references.CompletionArrived();
        }
    }

    /// <summary>CQ thread: an unsignaled request completed on its own (failed or flushed): it and those before it are done.</summary>
    public void UnsignaledCompleted(long order)
    {
        ReleaseUnsignaled(upTo: order);
        _unsignaledReleased = order + 1;
    }

    private void BecomePoster()
    {
        _posting = true;
        _poster = Thread.CurrentThread;
    }

    /// <summary>The poster's loop: takes everything staged into one chain, posts it outside the lock, until none is left.</summary>
    private bool PostAll(out Exception? error)
    {
        error = null;
        while (true)
        {
            int count;
            DatamoverException? allocationError = null;
            lock (_gate)
            {
                count = _stagedCount;
                if (count == 0 || !TakeChainLocked(count, out allocationError))
                {
                    // Nothing left to post, or no chain could be built (then the queue has failed and closes).
                    if (allocationError is not null) _closing = true;
                    _posting = false;
                    _poster = null;
                    if (_closing) _closed = true;
                }
            }
            if (allocationError is not null)
            {
                error ??= allocationError;
                _owner.PostFailed(allocationError);
                return false;
            }
            if (count == 0) return error is null;
            if (!PostChain(count, out var postError)) error ??= postError;
        }
    }

    /// <summary>
    /// Under _gate: moves the staged requests into the chain, allocating their work request slots and listing the
    /// unsignaled ones. Only the last SEND is signaled; WRITEs after it (a chain cut short) are signaled.
    /// </summary>
    private bool TakeChainLocked(int count, out DatamoverException? error)
    {
        int lastSend = count - 1;
        while (lastSend >= 0 && _staged[lastSend].Kind != WorkRequestKind.Send) lastSend--;
        var wrs = (IbvSendWr*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_chain));
        var sges = (IbvSge*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_chainSges));
        long order = _unsignaledPosted;
        for (int i = 0; i < count; i++)
        {
            ref readonly var staged = ref _staged[i];
            bool unsignaled = i < lastSend;
            // An unsignaled request's order is its place in the unsignaled list; a signaled one's is the count of
            // unsignaled requests before it.
            if (!_requests.TryAllocate(staged.Kind, staged.Block, null, null, out _chainIds[i], order: order, unsignaled: unsignaled))
            {
                // Nothing of this chain is posted: the slots taken so far come back, and every staged buffer.
                for (int j = 0; j < i; j++) _requests.Take(_chainIds[j]);
                ReleaseStagedLocked();
                error = new DatamoverException("Every work request slot is in use; the send queue is full.");
                return false;
            }
            if (unsignaled) _unsignaled[order++ % _unsignaled.Length] = _chainIds[i];
            _chainRequests[i] = staged;
            sges[i] = staged.Block.Sge(staged.Length);
            wrs[i] = new IbvSendWr
            {
                WrId = _chainIds[i],
                SgList = &sges[i],
                NumSge = 1,
                Opcode = staged.Kind == WorkRequestKind.Send ? SendOpcode.Send : SendOpcode.RdmaWrite,
                SendFlags = unsignaled ? SendFlags.None : SendFlags.Signaled,
                RemoteAddr = staged.RemoteAddress,
                Rkey = staged.RemoteKey,
                Next = i + 1 < count ? &wrs[i + 1] : null,
            };
        }
        _references.AddPosted(count);
        // Listed before the post: the SEND may complete (on the CQ thread) before PostSend even returns.
        Volatile.Write(ref _unsignaledPosted, order);
        Array.Clear(_staged, 0, count);
        _stagedCount = 0;
        error = null;
        return true;
    }

    /// <summary>Outside the lock, by the poster: one ibv_post_send. What did not go in is released and the connection fails.</summary>
    private bool PostChain(int count, out Exception? error)
    {
        var result = _owner.PostSend((IbvSendWr*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_chain)));
        IserConnectionCounters.SendQueuePosted();
        if (result.Posted > 0) IserConnectionCounters.Posted(result.Posted);
        if (result.Succeeded)
        {
            error = null;
            return true;
        }
        // After a partial post the connection fails and posts nothing more, so no completion ever reaches the listed
        // requests that did not go in: their slots, buffers and references come back here. Posted ones with no
        // signaled request behind them are flushed, and a flushed request completes even unsignaled.
        for (int i = result.Posted; i < count; i++)
        {
            _requests.Take(_chainIds[i]);
            _owner.ReturnBuffer(_chainRequests[i].Kind, _chainRequests[i].Block);
            _references.CompletionArrived();
        }
        Array.Clear(_chainRequests, 0, count);
        var failure = new DatamoverException($"Posting {count} work requests (RDMA WRITEs and SENDs) failed: {result.ErrorText("ibv_post_send")}");
        error = failure;
        _owner.PostFailed(failure);
        return false;
    }

    private void ReleaseStagedLocked()
    {
        for (int i = 0; i < _stagedCount; i++) _owner.ReturnBuffer(_staged[i].Kind, _staged[i].Block);
        Array.Clear(_staged, 0, _stagedCount);
        _stagedCount = 0;
    }
}
