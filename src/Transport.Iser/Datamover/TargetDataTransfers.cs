using Iser.Core.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The target's side of RDMA data placement (RFC 7145 Put_Data / Get_Data): registered bounce buffers and their
/// credits, RDMA WRITE of read data (posted unwaited, riding in front of the SCSI Response's SEND), RDMA READ of write
/// data (waited for), and buffers lent to a backing store that reads straight into registered memory. Registered on first
/// use by a target connection; an initiator connection has none (its callers' buffers are registered instead).
/// </summary>
internal sealed class TargetDataTransfers : IDisposable
{
    private readonly IserConnection _connection;
    private readonly IserOptions _options;
    private readonly SendQueue _sendQueue;
    private readonly QueuePair _queuePair;
    private readonly WorkRequestTable _requests;
    private readonly ConnectionReferences _references;
    private readonly RegisteredBufferPool _pool;
    private readonly SemaphoreSlim _credits;

    public TargetDataTransfers(IserConnection connection, QueuePair queuePair, ProtectionDomain pd, IserOptions options, SendQueue sendQueue,
        WorkRequestTable requests, ConnectionReferences references)
    {
        _connection = connection;
        _queuePair = queuePair;
        _options = options;
        _sendQueue = sendQueue;
        _requests = requests;
        _references = references;
        // Registered on first use: a discovery session never moves data.
        _pool = new RegisteredBufferPool(pd, options.DataBufferSize, options.DataBuffers, maxSlabs: 1, initialSlabs: 0,
            access: MemoryAccess.LocalWrite);
        _credits = new SemaphoreSlim(options.DataBuffers, options.DataBuffers);
    }

    /// <summary>Registered bytes held now.</summary>
    public long RegisteredBytes => (long)_pool.TotalBlocks * _pool.BlockSize;

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
        var pool = _pool;
        var credits = _credits;
        if (scratch.Blocks.Length < _options.DataBuffers) scratch.Blocks = new RegisteredBlock[_options.DataBuffers];
        int chunk = _options.DataBufferSize;
        int done = 0;
        while (done < length)
        {
            _connection.ThrowIfFailed();
            int chunksLeft = (length - done + chunk - 1) / chunk;
            await credits.WaitAsync(ct).ConfigureAwait(false);
            int n = 1;
            while (n < chunksLeft && n < scratch.Blocks.Length && credits.Wait(0)) n++;
            for (int i = 0; i < n; i++)
            {
                if (!pool.TryRent(out scratch.Blocks[i]))
                {
                    for (int j = 0; j < i; j++) pool.Return(scratch.Blocks[j]);
                    credits.Release(n);
                    throw new DatamoverException("The registered data buffer pool is exhausted although credits were held.");
                }
            }
            _connection.MemoryReport.UpdateIfGrown(_connection.RegisteredMemoryBytes);
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
                if (!Post(read ? WorkRequestKind.RdmaRead : WorkRequestKind.RdmaWrite, scratch.Blocks[i], pool, group,
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
                for (int i = 0; i < n; i++) pool.Return(scratch.Blocks[i]);
                credits.Release(n);
            }
            done += batchBytes;
        }
    }

    /// <summary>
    /// A data buffer and its credit without waiting, lent to a task (target read data); the connection stays alive
    /// (a reference is held) until <see cref="ReturnLent"/> or a WRITE from it completes, so a backing store still
    /// writing into it never writes into freed memory.
    /// </summary>
    public bool TryRent(out RegisteredBlock block)
    {
        block = default;
        if (_connection.IsClosing || !_credits.Wait(0)) return false;
        try
        {
            if (!_pool.TryRent(out block))
            {
                _credits.Release();
                return false;
            }
            _references.AddPosted(1);
        }
        catch (Exception) // the pool was disposed or the connection released under us
        {
            _credits.Release();
            block = default;
            return false;
        }
        _connection.MemoryReport.UpdateIfGrown(_connection.RegisteredMemoryBytes);
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
        var pool = _pool;
        // The SCSI Response follows: let the WRITEs ride in its post. Teardown returns whatever is still staged.
        if (!_connection.IsClosing && _sendQueue.TryStageWrites(blocks, chunk, batchBytes, remoteAddress, remoteKey)) return;
        for (int i = 0, off = 0; i < n; i++, off += chunk)
        {
            if (!Post(WorkRequestKind.RdmaWrite, blocks[i], pool, null, SendOpcode.RdmaWrite, Math.Min(chunk, batchBytes - off),
                    remoteAddress + (ulong)off, remoteKey, out var postError))
            {
                // The ones posted before complete (or flush) and return their buffers; these never will.
                for (int j = i; j < n; j++) pool.Return(blocks[j]);
                _credits.Release(n - i);
                throw postError!;
            }
        }
    }

    /// <summary>Posts one signaled RDMA READ or WRITE on <paramref name="block"/>, outside the send queue's chains.</summary>
    private bool Post(WorkRequestKind kind, RegisteredBlock block, RegisteredBufferPool pool, OperationGroup? group,
        SendOpcode opcode, int length, ulong remoteAddress, uint remoteKey, out Exception? error)
    {
        if (!_requests.TryAllocate(kind, block, pool, group, out ulong wrId))
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

    public void Dispose() => _pool.Dispose();
}
