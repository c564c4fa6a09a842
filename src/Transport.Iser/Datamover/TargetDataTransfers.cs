using Iser.Core.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The target's side of RDMA data placement (RFC 7145 Put_Data / Get_Data): bounce buffers from the listener's
/// <see cref="SharedDataBuffers"/> and this connection's credits for them, RDMA WRITE of read data (posted unwaited,
/// riding in front of the SCSI Response's SEND), RDMA READ of write data (waited for), and buffers lent to a backing
/// store that reads straight into registered memory. An initiator connection has none (its callers' buffers are
/// registered instead).
/// </summary>
internal sealed class TargetDataTransfers : IDisposable
{
    private readonly IserConnection _connection;
    private readonly IserOptions _options;
    private readonly SendQueue _sendQueue;
    private readonly QueuePair _queuePair;
    private readonly WorkRequestTable _requests;
    private readonly ConnectionReferences _references;
    private readonly SharedDataBuffers _pool;
    private readonly SemaphoreSlim _credits;
    private int _disposed;

    /// <summary>Uses <paramref name="pool"/> (a user is added here and removed by <see cref="Dispose"/>).</summary>
    public TargetDataTransfers(IserConnection connection, QueuePair queuePair, SharedDataBuffers pool, IserOptions options, SendQueue sendQueue,
        WorkRequestTable requests, ConnectionReferences references)
    {
        if (!pool.AddUser()) throw new ObjectDisposedException(nameof(SharedDataBuffers), "The listener's data buffer pool is already freed.");
        _connection = connection;
        _queuePair = queuePair;
        _options = options;
        _sendQueue = sendQueue;
        _requests = requests;
        _references = references;
        _pool = pool;
        _credits = new SemaphoreSlim(options.DataBuffers, options.DataBuffers);
    }

    public int BlockSize => _pool.BlockSize;

    /// <summary>A WRITE or READ completed: its waiting group is told, or (a WRITE nobody waits for) its buffer comes back.</summary>
    public void OnCompletion(in WorkRequestTable.Slot slot, Exception? error)
    {
        // The waiting task copies out of (and returns) the bounce buffer once the whole batch is in.
        if (slot.Group is { } group) group.Complete(error);
        else ReturnBuffer(slot.Block);
    }

    /// <summary>Per-task scratch: the group waited on and the bounce buffers of one batch.</summary>
    internal sealed class Scratch
    {
        public readonly OperationGroup Group = new();
        public RegisteredBlock[] Blocks = [];
    }

    /// <summary>
    /// Moves <paramref name="length"/> bytes between the task's memory and the initiator's tagged buffer
    /// (<paramref name="remoteKey"/>, <paramref name="remoteAddress"/>) with RDMA READ (<paramref name="read"/>) or WRITE,
    /// through registered bounce buffers: one operation per buffer, batches of as many buffers as are free.
    /// A task waits for buffers only while it holds none, so tasks cannot deadlock on the pool.
    /// </summary>
    public async ValueTask TransferAsync(Scratch scratch, bool read, Memory<byte> readDestination,
        ReadOnlyMemory<byte> writeSource, int length, uint remoteKey, ulong remoteAddress, CancellationToken ct)
    {
        if (scratch.Blocks.Length < _options.DataBuffers) scratch.Blocks = new RegisteredBlock[_options.DataBuffers];
        // A transfer that fits a small block takes one (a 4 KiB read need not hold 128 KiB of registered memory).
        bool small = _pool.FitsSmall(length);
        int chunk = small ? _pool.SmallBlockSize : _options.DataBufferSize;
        int done = 0;
        while (done < length)
        {
            _connection.ThrowIfFailed();
            int n = await RentBatchAsync(scratch.Blocks, wanted: (length - done + chunk - 1) / chunk, small, ct).ConfigureAwait(false);
            int batchBytes = Math.Min(length - done, n * chunk);
            if (!read)
            {
                // Past the end of writeSource (a zero-filled tail, see IserTargetDatamover.PutDataAsync) the buffer is cleared.
                for (int i = 0, off = 0; i < n; i++, off += chunk)
                {
                    var target = scratch.Blocks[i].Span[..Math.Min(chunk, batchBytes - off)];
                    int fromSource = Math.Clamp(writeSource.Length - (done + off), 0, target.Length);
                    writeSource.Span.Slice(done + off, fromSource).CopyTo(target);
                    target[fromSource..].Clear();
                }
            }
            if (!read)
            {
                // RDMA WRITE is posted and not waited for: the RC queue pair delivers it before the SCSI Response SEND
                // posted after it, and a failed WRITE fails the QP, so that SEND is flushed, never delivered. Each
                // WRITE's completion returns its bounce buffer (IserConnection's completion handler). This saves a wakeup per read command.
                PostWritesUnwaited(scratch.Blocks.AsSpan(0, n), chunk, batchBytes, remoteAddress + (ulong)done, remoteKey);
                done += batchBytes;
                continue;
            }
            var group = scratch.Group;
            group.Start(n);
            Exception? postError = null;
            for (int i = 0, off = 0; i < n; i++, off += chunk)
            {
                int len = Math.Min(chunk, batchBytes - off);
                if (!Post(read ? WorkRequestKind.RdmaRead : WorkRequestKind.RdmaWrite, scratch.Blocks[i], group,
                        read ? SendOpcode.RdmaRead : SendOpcode.RdmaWrite, len, remoteAddress + (ulong)(done + off), remoteKey, out postError))
                {
                    group.Abandon(n - i, postError!);
                    break;
                }
            }
            try
            {
                // Even after a failed post, the operations that did go in must complete before their buffers are reused.
                await group.WaitAsync().ConfigureAwait(false);
                if (read)
                {
                    for (int i = 0, off = 0; i < n; i++, off += chunk)
                        scratch.Blocks[i].Span[..Math.Min(chunk, batchBytes - off)].CopyTo(readDestination.Span.Slice(done + off));
                }
            }
            finally
            {
                for (int i = 0; i < n; i++) ReturnBuffer(scratch.Blocks[i]);
            }
            done += batchBytes;
        }
    }

    /// <summary>
    /// Waits for one buffer (this connection's credit, then the shared pool's) and takes up to <paramref name="wanted"/>
    /// in all without waiting for more, rented into <paramref name="blocks"/>. A task waits for the pool only while it
    /// holds none of its blocks, and holders never wait, so tasks cannot deadlock on it.
    /// </summary>
    private async ValueTask<int> RentBatchAsync(RegisteredBlock[] blocks, int wanted, bool small, CancellationToken ct)
    {
        await _credits.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _pool.WaitAsync(small, ct).ConfigureAwait(false);
        }
        catch
        {
            _credits.Release();
            throw;
        }
        int n = 1;
        while (n < wanted && n < blocks.Length && _credits.Wait(0))
        {
            if (!_pool.TryTake(small))
            {
                _credits.Release();
                break;
            }
            n++;
        }
        int rented = 0;
        try
        {
            for (; rented < n; rented++) blocks[rented] = _pool.Rent(small);
        }
        catch
        {
            for (int i = 0; i < rented; i++) _pool.Return(blocks[i]);
            _pool.Release(small, n - rented);
            _credits.Release(n);
            throw;
        }
        return n;
    }

    /// <summary>
    /// A data buffer (small when <paramref name="length"/> fits one) and its credit without waiting, lent to a task (target read data); the connection stays alive
    /// (a reference is held) until <see cref="ReturnLent"/> or a WRITE from it completes, so a backing store still
    /// writing into it never writes into freed memory.
    /// </summary>
    public bool TryRent(int length, out RegisteredBlock block)
    {
        block = default;
        bool small = _pool.FitsSmall(length);
        if (_connection.IsClosing || !_credits.Wait(0)) return false;
        if (!_pool.TryTake(small))
        {
            _credits.Release();
            return false;
        }
        try
        {
            block = _pool.Rent(small);
        }
        catch (Exception) // no slab could be registered: the store reads into its own memory instead
        {
            _pool.Release(small, 1);
            _credits.Release();
            return false;
        }
        try
        {
            _references.AddPosted(1);
        }
        catch (InvalidOperationException) // the connection was released under us
        {
            ReturnBuffer(block);
            block = default;
            return false;
        }
        return true;
    }

    /// <summary>A data buffer comes back with its credit and the reference it held (lent and unused).</summary>
    public void ReturnLent(RegisteredBlock block)
    {
        ReturnBuffer(block);
        _references.CompletionArrived();
    }

    /// <summary>A buffer whose WRITE completed (or was released unposted) comes back with its credit; no reference.</summary>
    public void ReturnBuffer(RegisteredBlock block)
    {
        _pool.Return(block);
        _credits.Release();
    }


    /// <summary>An RDMA WRITE straight from a lent block; the block (and its credit) come back with its completion.</summary>
    public void PostLentWrite(RegisteredBlock block, int length, ulong remoteAddress, uint remoteKey)
    {
        try
        {
            PostWritesUnwaited(new ReadOnlySpan<RegisteredBlock>(in block), _options.DataBufferSize, length, remoteAddress, remoteKey);
        }
        finally
        {
            // The WRITE holds its own reference (or was never posted, and PostWritesUnwaited returned the block).
            _references.CompletionArrived();
        }
    }

    private void PostWritesUnwaited(ReadOnlySpan<RegisteredBlock> blocks, int chunk, int batchBytes, ulong remoteAddress, uint remoteKey)
    {
        int n = blocks.Length;
        // The SCSI Response follows: let the WRITEs ride in its post. Teardown returns whatever is still staged.
        if (!_connection.IsClosing && _sendQueue.TryStageWrites(blocks, chunk, batchBytes, remoteAddress, remoteKey)) return;
        for (int i = 0, off = 0; i < n; i++, off += chunk)
        {
            if (!Post(WorkRequestKind.RdmaWrite, blocks[i], null, SendOpcode.RdmaWrite, Math.Min(chunk, batchBytes - off),
                    remoteAddress + (ulong)off, remoteKey, out var postError))
            {
                // The ones posted before complete (or flush) and return their buffers; these never will.
                for (int j = i; j < n; j++) _pool.Return(blocks[j]);
                _credits.Release(n - i);
                throw postError!;
            }
        }
    }

    /// <summary>Posts one signaled RDMA READ or WRITE on <paramref name="block"/>, outside the send queue's chains.</summary>
    private bool Post(WorkRequestKind kind, RegisteredBlock block, OperationGroup? group,
        SendOpcode opcode, int length, ulong remoteAddress, uint remoteKey, out Exception? error)
    {
        if (!_requests.TryAllocate(kind, block, null, group, out ulong wrId))
        {
            error = new DatamoverException("Every work request slot is in use; the send queue is full.");
            return false;
        }
        _references.AddPosted(1);
        ReadOnlySpan<IbvSge> sge = [block.Sge(length)];
        PostResult result = _queuePair.PostSend(wrId, opcode, sge, SendFlags.Signaled, remoteAddress, remoteKey);
        IserConnectionCounters.SendQueuePosted();
        if (!result.Succeeded)
        {
            _requests.Take(wrId);
            _references.CompletionArrived();
            error = new DatamoverException($"Posting an {opcode} work request failed: {result.ErrorText("ibv_post_send")}");
            _connection.Fail(error);
            return false;
        }
        IserConnectionCounters.Posted(1);
        error = null;
        return true;
    }

    /// <summary>This connection stops using the shared pool (its last completion has returned every block it had).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _pool.RemoveUser();
    }
}
