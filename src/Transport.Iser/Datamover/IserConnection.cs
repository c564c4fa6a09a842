using System.Threading.Channels;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// What both iSER roles share (RFC 7145): one RC queue pair; control PDUs travel as SEND/RECV behind the 28-byte
/// iSER header, from login on. A ring of registered receive buffers is posted (a few for login, grown to the
/// negotiated depth at Enable_Datamover); sends copy into registered send buffers and leave through the
/// <see cref="SendQueue"/>, which stamps them (<see cref="IDatamoverHost.OnSending"/>) in the order it posts them and
/// chains what is submitted during a post into the next one. Received PDUs go up through <see cref="ReceivedPduDelivery"/>;
/// the wire format is <see cref="Protocol.IserPduCodec"/>. One thread drains the CQ (bounded batches, re-arm, poll again); one thread watches the rdma_cm events.
/// Every posted work request holds a connection reference; the QP, CQ and registered memory are freed only when
/// the last completion (flushes included) has arrived after disconnect.
/// </summary>
public abstract class IserConnection : IDatamoverConnection, ISendQueueOwner, ICompletionIdleHandler
{
    private protected readonly RdmaConnection Rdma;
    private protected readonly IserOptions Options;
    private protected readonly ILogger Logger;
    private readonly RegisteredBufferPool _receivePool;
    private readonly RegisteredBufferPool _sendPool;
    private readonly SemaphoreSlim _sendCredits;
    private readonly WorkRequestTable _requests;
    private readonly ConnectionReferences _references;
    private readonly CompletionQueuePoller _poller;
    private readonly Thread _eventThread;
    private readonly ReceivedPduDelivery _received;
    private readonly SendQueue _sendQueue;
    private protected SendQueue Sends => _sendQueue;
    private readonly TargetDataTransfers? _data;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool _isTarget;
    private IDatamoverHost? _host;
    private ConnectionParameters _parameters = new();
    private volatile Exception? _failure;
    private volatile bool _terminating;
    private int _terminateStarted;
    private volatile bool _stopEvents;
    private volatile bool _peerDisconnected;
    private int _postedReceives;
    private int _freed;
    private long _registeredReported;
    private string _terminateReason = "";

    private protected IserConnection(RdmaConnection rdma, IserOptions options, ILogger logger, bool isTarget, string localEndPoint, string remoteEndPoint)
    {
        Rdma = rdma;
        Options = options;
        // On the target the connection's receive loop resumes inline on the CQ thread when it is waiting: a command is
        // decoded, executed (a RAM or cached read completes synchronously), its RDMA WRITE and SCSI Response posted
        // without a thread hop, as tgtd's single event loop does. The loop never blocks (it awaits), so the CQ thread
        // keeps draining. The initiator switches to push delivery after login (StartReceiving): the CQ thread dispatches
        // each PDU into the session itself, which decides where callers' continuations run (CompletionOptions).
        _received = new ReceivedPduDelivery(synchronousContinuations: isTarget, EndOfStreamError);
        Logger = logger;
        _isTarget = isTarget;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
        var pd = rdma.ProtectionDomain;
        int controlSize = options.ControlBufferSize;
        const int perSlab = 16;
        int ring = options.ReceiveRing(options.QueueDepth);
        _receivePool = new RegisteredBufferPool(pd, controlSize, perSlab, maxSlabs: (ring + perSlab - 1) / perSlab + 1, initialSlabs: 1);
        _sendPool = new RegisteredBufferPool(pd, controlSize, perSlab, maxSlabs: (options.SendBuffers + perSlab - 1) / perSlab, initialSlabs: 1,
            access: MemoryAccess.LocalWrite);
        _sendCredits = new SemaphoreSlim(options.SendBuffers, options.SendBuffers);
        var granted = rdma.QueuePair.Capacities;
        _requests = new WorkRequestTable(granted.MaxSendWorkRequests + granted.MaxReceiveWorkRequests);
        _references = new ConnectionReferences(() => ThreadPool.UnsafeQueueUserWorkItem(_ => FreeResources(), null));
        _sendQueue = new SendQueue(this, _requests, _references);
        if (isTarget) _data = new TargetDataTransfers(this, pd, options, _sendQueue, _references);
        IserConnectionCounters.ConnectionCreated();
        _poller = new CompletionQueuePoller(rdma.CompletionQueue, OnCompletions, OnPollerError, batchSize: 32, batchesPerWakeup: 4,
            threadName: $"iser-cq {RemoteEndPoint}", idle: this);
        _eventThread = new Thread(WatchEvents) { IsBackground = true, Name = $"iser-cm {RemoteEndPoint}" };
        PostReceives(options.LoginReceiveBuffers);
        ReportRegisteredMemory();
    }

    /// <summary>
    /// Starts watching rdma_cm events (DISCONNECTED, device removal). Called once the connection is ESTABLISHED: on
    /// the target the receives are posted before rdma_accept, whose ESTABLISHED event the acceptor waits for itself.
    /// </summary>
    internal void StartWatchingConnectionEvents() => _eventThread.Start();

    public string TransportName => "iser";
    public string LocalEndPoint { get; }
    public string RemoteEndPoint { get; }
    public bool PlacesDataDirectly => true;
    public ConnectionParameters CurrentParameters => _parameters;

    /// <summary>Bytes of registered memory this connection holds now (control rings, send buffers, data buffers).</summary>
    public long RegisteredMemoryBytes =>
        (long)_receivePool.TotalBlocks * _receivePool.BlockSize + (long)_sendPool.TotalBlocks * _sendPool.BlockSize
        + (_data?.RegisteredBytes ?? 0);

    /// <summary>References held: 1 for the open connection plus one per posted, not yet completed work request.</summary>
    public int References => _references.Count;

    /// <summary>Receive work requests posted and not yet completed.</summary>
    public int PostedReceives => Volatile.Read(ref _postedReceives);

    /// <summary>Completes when the QP, CQ and registered memory have been freed.</summary>
    public Task Released => _released.Task;

    /// <summary>Why the connection failed, if it did.</summary>
    public string? FailureReason => _failure?.Message;

    // ---------------------------------------------------------------- control PDUs

    public async ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default)
    {
        Exception? error = null;
        try
        {
            ThrowIfFailed();
            await _sendCredits.WaitAsync(cancellationToken).ConfigureAwait(false);
            // On failure PostControl has returned the credit and the buffer.
            if (!PostControl(pdu, out error)) throw error!;
        }
        catch (Exception e)
        {
            error ??= e;
            throw e is DatamoverException or OperationCanceledException ? e : new DatamoverException(e.Message, e);
        }
        finally
        {
            // The PDU was copied into a registered send buffer: its memory may be reused at once.
            pdu.SentNotification?.OnPduSent(pdu, error);
            PduPool.Return(pdu);
        }
    }

    /// <summary>
    /// Copies the PDU into a send buffer and sends it through the send queue (posted at once, or with the chain of the
    /// post in progress, or at the end of the CQ thread's completion batch). Holds a send credit; on failure the credit
    /// and the buffer are returned here.
    /// </summary>
    private bool PostControl(Pdu pdu, out Exception? error)
    {
        if (!_sendPool.TryRent(out RegisteredBlock block))
        {
            _sendCredits.Release();
            error = new DatamoverException("No registered send buffer is free although a send credit was held.");
            return false;
        }
        if (_sendQueue.Send(pdu, block, _host, out error)) return true;
        if (_failure is DatamoverException failed) error = failed;
        else if (_terminating) error = new DatamoverException($"The iSER connection to {RemoteEndPoint} is closed; PDU not sent.");
        return false;
    }

    private void ReturnSendBlock(RegisteredBlock block)
    {
        _sendPool.Return(block);
        _sendCredits.Release();
    }


    public virtual async ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default)
    {
        var reader = _received.Queue;
        while (true)
        {
            if (reader.TryRead(out var pdu)) return pdu;
            bool more;
            try
            {
                more = await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                more = false;
            }
            if (!more) return EndOfStreamError() is { } error ? throw error : null;
        }
    }

    /// <summary>
    /// Push delivery: the CQ thread hands every PDU it decodes to <paramref name="receiver"/> itself. With
    /// <paramref name="busyPoll"/> the CQ is polled without sleeping on its completion channel (one core stays busy).
    /// </summary>
    public void StartReceiving(IPduReceiver receiver, bool busyPoll = false)
    {
        _poller.BusyPoll = busyPoll;
        _received.StartPushing(receiver);
    }

    /// <summary>Why no PDU follows: null for a clean close by the peer.</summary>
    private DatamoverException? EndOfStreamError()
    {
        if (_failure is { } f) return f as DatamoverException ?? new DatamoverException(f.Message, f);
        // Closed on this side (TerminateAsync) rather than by the peer: say why, or the reader would report that the
        // peer closed the connection.
        if (_terminating && !_peerDisconnected)
            return new DatamoverException($"The iSER connection to {RemoteEndPoint} was closed on this side ({_terminateReason}).");
        return null;
    }

    public void NoticeKeyValues(ConnectionParameters parameters) => _parameters = parameters;

    public virtual void EnableDatamover(IDatamoverHost host)
    {
        var p = _parameters;
        if (p.MaxRecvDataSegmentLength > Options.ControlDataSegmentLength && p.RdmaExtensions)
            Fail(new DatamoverException(
                $"The login settled a receive data segment length of {p.MaxRecvDataSegmentLength} bytes, more than the {Options.ControlDataSegmentLength} bytes this iSER connection's receive buffers hold."));
        _host = host;
        // Full feature phase: the ring grows to the command window plus the unexpected PDUs the peer may send.
        int wanted = Math.Min(Options.ReceiveRing(p.MaxOutstandingUnexpectedPdus), Rdma.QueuePair.Capacities.MaxReceiveWorkRequests);
        int more = wanted - Volatile.Read(ref _postedReceives);
        if (more > 0) PostReceives(more);
        ReportRegisteredMemory();
        Logger.LogInformation(
            "iSER connection {Remote}: {Receives} receive and up to {Sends} send buffers of {Size} B, {DataBuffers} data buffers of {DataSize} B; {Kib} KiB registered now",
            RemoteEndPoint, Volatile.Read(ref _postedReceives), Options.SendBuffers, _receivePool.BlockSize,
            _data is null ? 0 : Options.DataBuffers, _data?.BlockSize ?? 0, RegisteredMemoryBytes / 1024);
    }

    // ---------------------------------------------------------------- posting

    private void PostReceives(int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (_terminating || _failure is not null) return;
            if (!_receivePool.TryRent(out RegisteredBlock block))
            {
                Logger.LogWarning("{Remote}: receive buffer pool exhausted after {Posted} receives", RemoteEndPoint, _postedReceives);
                return;
            }
            if (!PostReceive(block)) return;
        }
    }

    private unsafe bool PostReceive(RegisteredBlock block)
    {
        if (!_requests.TryAllocate(WorkRequestKind.Receive, block, _receivePool, null, out ulong wrId))
        {
            _receivePool.Return(block);
            Fail(new DatamoverException("Every work request slot is in use; a receive buffer could not be posted."));
            return false;
        }
        _references.AddPosted(1);
        Interlocked.Increment(ref _postedReceives);
        ReadOnlySpan<IbvSge> sge = [block.Sge(block.Length)];
        PostResult result = Rdma.QueuePair.PostReceive(wrId, sge);
        if (!result.Succeeded)
        {
            // Not posted: it will never complete, so its slot, buffer and reference go back now.
            _requests.Take(wrId);
            _receivePool.Return(block);
            Interlocked.Decrement(ref _postedReceives);
            _references.CompletionArrived();
            Fail(new DatamoverException($"Posting a receive buffer failed: {result.ErrorText("ibv_post_recv")}"));
            return false;
        }
        IserConnectionCounters.Posted(1);
        return true;
    }

    /// <summary>Posts one signaled send-queue work request (RDMA READ or WRITE) on <paramref name="block"/>.</summary>
    internal bool Post(WorkRequestKind kind, RegisteredBlock block, RegisteredBufferPool pool, OperationGroup? group,
        SendOpcode opcode, int length, ulong remoteAddress, uint remoteKey, out Exception? error)
    {
        if (!_requests.TryAllocate(kind, block, pool, group, out ulong wrId))
        {
            error = new DatamoverException("Every work request slot is in use; the send queue is full.");
            return false;
        }
        _references.AddPosted(1);
        ReadOnlySpan<IbvSge> sge = [block.Sge(length)];
        PostResult result = Rdma.QueuePair.PostSend(wrId, opcode, sge, SendFlags.Signaled, remoteAddress, remoteKey);
        IserConnectionCounters.SendQueuePosted();
        if (!result.Succeeded)
        {
            _requests.Take(wrId);
            _references.CompletionArrived();
            error = new DatamoverException($"Posting an {opcode} work request failed: {result.ErrorText("ibv_post_send")}");
            Fail(error);
            return false;
        }
        IserConnectionCounters.Posted(1);
        error = null;
        return true;
    }

    /// <summary>A send-queue request's buffer and credit back to their pool (a SEND's or a WRITE's); no reference.</summary>
    private void ReturnRequestBuffer(WorkRequestKind kind, RegisteredBlock block)
    {
        if (kind == WorkRequestKind.Send) ReturnSendBlock(block);
        else _data!.ReturnBuffer(block);
    }

    unsafe PostResult ISendQueueOwner.PostSend(IbvSendWr* chain) => Rdma.QueuePair.PostSend(chain);
    void ISendQueueOwner.ReturnBuffer(WorkRequestKind kind, RegisteredBlock block) => ReturnRequestBuffer(kind, block);
    void ISendQueueOwner.PostFailed(DatamoverException error) => Fail(error);

    // ---------------------------------------------------------------- completions

    private void OnCompletions(ReadOnlySpan<IbvWc> completions)
    {
        // On the target a received command runs to its response on this thread: its SEND waits for the batch's end.
        _sendQueue.BeginBatch();
        try
        {
            HandleCompletions(completions);
        }
        finally
        {
            _sendQueue.EndBatch();
        }
    }

    bool ICompletionIdleHandler.HasIdleWork => _received.HasIdleWork;
    void ICompletionIdleHandler.OnIdle(bool threadFree) => _received.Idle(threadFree);

    private void HandleCompletions(ReadOnlySpan<IbvWc> completions)
    {
        foreach (ref readonly var wc in completions)
        {
            var slot = _requests.Take(wc.WrId);
            IserConnectionCounters.CompletionPolled(receive: slot.Kind == WorkRequestKind.Receive);
            if (slot.Unsignaled)
            {
                // Only a failed or flushed unsignaled request completes: the ones before it succeeded silently.
                _sendQueue.UnsignaledCompleted(slot.Order);
            }
            else if (slot.Kind == WorkRequestKind.Send)
            {
                _sendQueue.ReleaseUnsignaled(upTo: slot.Order);
            }
            Exception? error = null;
            if (!wc.IsSuccess)
            {
                error = new DatamoverException(_terminating || wc.Status == WorkCompletionStatus.WrFlushErr
                    ? $"The iSER connection to {RemoteEndPoint} was closed ({wc.StatusText})."
                    : $"An iSER {slot.Kind} work request failed: {wc.StatusText}");
            }
            switch (slot.Kind)
            {
                case WorkRequestKind.Receive:
                    Interlocked.Decrement(ref _postedReceives);
                    if (error is null && !_terminating) Received(slot.Block, (int)wc.ByteLen);
                    else slot.Pool!.Return(slot.Block);
                    break;
                case WorkRequestKind.Send:
                    ReturnSendBlock(slot.Block);
                    break;
                default:
                    _data!.OnCompletion(slot, error); // an RDMA READ or WRITE: only a target posts them
                    break;
            }
            if (error is not null && !_terminating) Fail(error);
            IserConnectionCounters.Completed();
            _references.CompletionArrived();
        }
    }

    private void Received(RegisteredBlock block, int byteLength)
    {
        Pdu pdu;
        try
        {
            pdu = IserPduCodec.Decode(block.Span[..byteLength]);
        }
        catch (Exception e)
        {
            _receivePool.Return(block);
            Fail(e);
            return;
        }
        // Repost the same buffer before handing the PDU up: the ring never shrinks.
        if (!PostReceive(block))
        {
            PduPool.Return(pdu);
            return;
        }
        _received.Deliver(pdu);
    }

    private void OnPollerError(Exception e) => Fail(e is DatamoverException ? e : new DatamoverException($"Polling the completion queue failed: {e.Message}", e));

    private void WatchEvents()
    {
        while (!_stopEvents)
        {
            RdmaCmEvent? evt;
            try
            {
                evt = Rdma.WaitForEvent(200);
            }
            catch (Exception e)
            {
                if (!_stopEvents) Fail(new DatamoverException($"Watching the RDMA connection manager failed: {e.Message}", e));
                return;
            }
            if (evt is null) continue;
            switch (evt.Type)
            {
                case RdmaCmEventType.Disconnected:
                    Logger.LogDebug("{Remote}: {Event}", RemoteEndPoint, evt);
                    // A clean close from the peer: the reader sees end of stream, then teardown.
                    // Our own rdma_disconnect raises this event here too: only a close we did not start is the peer's.
                    if (!_terminating) _peerDisconnected = true;
                    _received.Complete();
                    BeginTerminate("the peer disconnected");
                    break;
                case RdmaCmEventType.DeviceRemoval:
                    Fail(new DatamoverException($"The RDMA device under the connection to {RemoteEndPoint} was removed."));
                    break;
                case RdmaCmEventType.TimewaitExit:
                    Logger.LogDebug("{Remote}: timewait over", RemoteEndPoint);
                    break;
                default:
                    Logger.LogDebug("{Remote}: rdma_cm event {Event}", RemoteEndPoint, evt);
                    break;
            }
        }
    }

    // ---------------------------------------------------------------- failure and teardown

    internal void ThrowIfFailed()
    {
        if (_failure is { } f) throw f as DatamoverException ?? new DatamoverException(f.Message, f);
        if (_terminating) throw new DatamoverException($"The iSER connection to {RemoteEndPoint} is closed ({_terminateReason}).");
    }

    /// <summary>The connection cannot go on: the reader gets the reason, the QP is disconnected (outstanding work flushes).</summary>
    private protected void Fail(Exception error)
    {
        if (Interlocked.CompareExchange(ref _failure, error, null) is null)
        {
            if (!_terminating) Logger.LogWarning("iSER connection {Remote} failed: {Reason}", RemoteEndPoint, error.Message);
            _received.Complete();
            OnFailed(error);
        }
        BeginTerminate(error.Message);
    }

    /// <summary>A role's hook to fail its waiting tasks.</summary>
    private protected virtual void OnFailed(Exception error) { }

    private void BeginTerminate(string reason)
    {
        if (Interlocked.Exchange(ref _terminateStarted, 1) != 0) return;
        _terminateReason = reason; // before the volatile flag: a reader that sees the flag sees the reason
        _terminating = true;
        // A close of our own (after a Logout Response, a login refusal) may come before the completion batch that
        // staged the last PDU ends: that PDU goes out first. After a failure the queue pair is in error anyway.
        _sendQueue.Close(postStaged: _failure is null);
        try
        {
            // rdma_disconnect moves the QP to the error state: every posted WR completes (flushed) and drops its reference.
            Rdma.Disconnect();
        }
        catch (Exception e)
        {
            Logger.LogDebug("{Remote}: rdma_disconnect: {Error}", RemoteEndPoint, e.Message);
        }
        try
        {
            Rdma.QueuePair.MoveToErrorState();
        }
        catch (Exception e)
        {
            Logger.LogDebug("{Remote}: moving the QP to the error state: {Error}", RemoteEndPoint, e.Message);
        }
        _received.Complete();
        _references.Close();
    }

    /// <summary>
    /// Connection_Terminate: disconnects at once (outstanding work flushes) and returns; the QP, CQ and registered
    /// memory go when the last completion arrives (<see cref="Released"/>). Should the provider never flush,
    /// they are freed after <see cref="IserOptions.DrainTimeout"/> with a warning.
    /// </summary>
    public ValueTask TerminateAsync(string reason)
    {
        BeginTerminate(reason);
        if (!_released.Task.IsCompleted && Interlocked.Exchange(ref _watchdogStarted, 1) == 0) _ = FreeWhenStuckAsync();
        return ValueTask.CompletedTask;
    }

    private int _watchdogStarted;

    private async Task FreeWhenStuckAsync()
    {
        var released = _released.Task;
        if (await Task.WhenAny(released, Task.Delay(Options.DrainTimeout)).ConfigureAwait(false) == released) return;
        Logger.LogWarning("{Remote}: {Count} work requests did not complete within {Timeout} s of disconnect; freeing the connection anyway",
            RemoteEndPoint, _references.Count - 1, Options.DrainTimeout.TotalSeconds);
        FreeResources();
    }

    private void FreeResources()
    {
        if (Interlocked.Exchange(ref _freed, 1) != 0) return;
        try
        {
            _stopEvents = true;
            if (Thread.CurrentThread != _eventThread && (_eventThread.ThreadState & ThreadState.Unstarted) == 0) _eventThread.Join();
            _poller.Dispose();
            _received.Discard();
            Rdma.Dispose();
            long bytes = RegisteredMemoryBytes;
            _receivePool.Dispose();
            _sendPool.Dispose();
            _data?.Dispose();
            OnResourcesFreed();
            IserConnectionCounters.Registered(-Interlocked.Exchange(ref _registeredReported, 0));
            IserConnectionCounters.ConnectionFreed();
            Logger.LogDebug("iSER connection {Remote} freed ({Kib} KiB registered memory released): {Reason}", RemoteEndPoint, bytes / 1024, _terminateReason);
        }
        catch (Exception e)
        {
            Logger.LogWarning(e, "{Remote}: freeing the iSER connection failed", RemoteEndPoint);
        }
        finally
        {
            _released.TrySetResult();
        }
    }

    /// <summary>A role's hook to release what it registered (the initiator's MR cache).</summary>
    private protected virtual void OnResourcesFreed() { }

    /// <summary>A connection that is failing or closing lends no buffers and stages no work.</summary>
    internal bool IsClosing => _terminating || _failure is not null;

    /// <summary>After a pool may have registered a new slab: the process-wide registered-bytes counter follows.</summary>
    internal void RegisteredMemoryMayHaveGrown()
    {
        if (Volatile.Read(ref _registeredReported) < RegisteredMemoryBytes) ReportRegisteredMemory();
    }

    /// <summary>The target's RDMA data placement; null on an initiator connection.</summary>
    private protected TargetDataTransfers? DataTransfers => _data;

    private void ReportRegisteredMemory()
    {
        long now = RegisteredMemoryBytes;
        long before = Interlocked.Exchange(ref _registeredReported, now);
        IserConnectionCounters.Registered(now - before);
    }

    public async ValueTask DisposeAsync()
    {
        await TerminateAsync("disposed").ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
