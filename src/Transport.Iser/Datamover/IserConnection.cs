using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// What both iSER roles share (RFC 7145): one RC queue pair; control PDUs travel as SEND/RECV behind the 28-byte
/// iSER header, from login on. Received PDUs come through the <see cref="ReceiveRing"/> (a few buffers for login,
/// grown to the negotiated depth at Enable_Datamover) and go up through <see cref="ReceivedPduDelivery"/>; sends are
/// copied into <see cref="ControlBuffers"/> and leave through the <see cref="SendQueue"/>, which stamps them
/// (<see cref="IDatamoverHost.OnSending"/>) in the order it posts them. This type wires the parts and routes each
/// work completion (one CQ thread, bounded batches). Its <see cref="ConnectionLifetime"/> holds failure, close and
/// the references that keep the QP, CQ and registered memory until the last completion (steps:
/// <see cref="ConnectionTeardown"/>); a <see cref="ConnectionEventWatcher"/> follows the rdma_cm events.
/// </summary>
public abstract class IserConnection : IDatamoverConnection, ISendQueueOwner, ICompletionIdleHandler, IReceiveRingOwner
{
    private protected readonly RdmaConnection Rdma;
    private protected readonly IserOptions Options;
    private protected readonly ILogger Logger;
    private readonly ControlBuffers _buffers;
    private readonly WorkRequestTable _requests;
    private readonly ConnectionLifetime _lifetime;
    private readonly ConnectionReferences _references;
    private readonly CompletionQueuePoller? _poller;
    private readonly SharedCompletions? _shared;
    private readonly ConnectionEventWatcher _events;
    private readonly ReceivedPduDelivery _received;
    private readonly ReceiveRing _receives;
    private readonly SendQueue _sendQueue;
    private readonly TargetDataTransfers? _data;
    private IDatamoverHost? _host;
    private ConnectionParameters _parameters = new();

    /// <param name="dataBuffers">A target's: the listener's RDMA data buffers on this device. Null on an initiator.</param>
    /// <param name="shared">The owner of the shared receive queue, send buffers and CQ <paramref name="worker"/> the
    /// connection was built on (a target listener's, or the process's initiators'); it counted this connection as a user.
    /// Null: the connection has its own ring, send buffers, CQ and CQ thread.</param>
    /// <param name="eventThread">The rdma_cm event thread it shares (the listener's, or the initiators'). Null: a thread of its own.</param>
    private protected IserConnection(RdmaConnection rdma, IserOptions options, ILogger logger, SharedDataBuffers? dataBuffers,
        ISharedDeviceResources? shared, CompletionWorker? worker, ConnectionEventThread? eventThread, string localEndPoint, string remoteEndPoint)
    {
        bool isTarget = dataBuffers is not null;
        Rdma = rdma;
        Options = options;
        Logger = logger;
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;
        _lifetime = new ConnectionLifetime(remoteEndPoint, logger, options.DrainTimeout);
        _references = _lifetime.References;
        // On the target the connection's receive loop resumes inline on the CQ thread when it is waiting: a command is
        // decoded, executed (a RAM or cached read completes synchronously), its RDMA WRITE and SCSI Response posted
        // without a thread hop, as tgtd's single event loop does. The loop never blocks (it awaits), so the CQ thread
        // keeps draining. The initiator switches to push delivery after login (StartReceiving): the CQ thread dispatches
        // each PDU into the session itself, which decides where callers' continuations run (CompletionOptions).
        _received = new ReceivedPduDelivery(synchronousContinuations: isTarget, _lifetime.EndOfStreamError);
        _buffers = new ControlBuffers(rdma.ProtectionDomain, options, shared?.Queues.SendBuffers);
        var granted = rdma.QueuePair.Capacities;
        int sendRequests = options.ConnectionOptions(target: isTarget).Capacities.MaxSendWorkRequests;
        // Sharing a CQ, the connection may never have more outstanding than it reserved there.
        _requests = new WorkRequestTable(shared is not null ? Math.Min(sendRequests, granted.MaxSendWorkRequests) : granted.MaxSendWorkRequests + granted.MaxReceiveWorkRequests);
        _sendQueue = new SendQueue(this, _requests, _references);
        _receives = new ReceiveRing(this, _requests, _references, _received);
        if (dataBuffers is not null) _data = new TargetDataTransfers(this, rdma.QueuePair, dataBuffers, options, _sendQueue, _requests, _references);
        IserConnectionCounters.ConnectionCreated();
        _events = new ConnectionEventWatcher(rdma, _lifetime, logger, remoteEndPoint, eventThread);
        if (shared is not null)
        {
            _shared = new SharedCompletions(shared, worker!, rdma.QueuePair.QpNumber, sendRequests);
            worker!.Add(rdma.QueuePair.QpNumber, this);
        }
        else
        {
            _poller = new CompletionQueuePoller(rdma.CompletionQueue, OnCompletions, OnPollerError, batchSize: 32, batchesPerWakeup: 4,
                threadName: $"iser-cq {RemoteEndPoint}", idle: this);
        }
        _lifetime.Attach(new ConnectionTeardown(this,
            new(rdma, _receives, _sendQueue, _received, (IDisposable?)_poller ?? _shared!, _events, _buffers, _data, _requests, _shared), logger));
        if (shared is null) PostReceives(options.LoginReceiveBuffers);
        MemoryReport.Update(RegisteredMemoryBytes);
    }

    /// <summary>
    /// Starts watching rdma_cm events (DISCONNECTED, device removal). Called once the connection is ESTABLISHED: on
    /// the target the receives are posted before rdma_accept, whose ESTABLISHED event the acceptor waits for itself.
    /// </summary>
    internal void StartWatchingConnectionEvents() => _events.Start();

    public string TransportName => "iser";
    public string LocalEndPoint { get; }
    public string RemoteEndPoint { get; }
    public bool PlacesDataDirectly => true;
    public ConnectionParameters CurrentParameters => _parameters;
    private protected SendQueue Sends => _sendQueue;

    /// <summary>
    /// Bytes of registered memory this connection holds now: its receive ring and send buffers. A target's data buffers
    /// are the listener's, shared (<see cref="IserConnectionCounters.SharedDataBufferBytes"/>), and so are its control
    /// buffers when it shares them (<see cref="IserConnectionCounters.SharedControlBufferBytes"/>): then this is 0.
    /// </summary>
    public long RegisteredMemoryBytes => _buffers.RegisteredBytes;

    /// <summary>This connection's share of <see cref="IserConnectionCounters.RegisteredBytes"/>.</summary>
    internal RegisteredMemoryReport MemoryReport { get; } = new();

    /// <summary>References held: 1 for the open connection plus one per posted, not yet completed work request.</summary>
    public int References => _references.Count;

    /// <summary>Receive work requests posted and not yet completed (its own ring's; a shared receive queue's are its owner's).</summary>
    public int PostedReceives => _receives.Posted;

    /// <summary>Whether this connection receives through a shared receive queue (its listener's, or the initiators') and polls a shared CQ.</summary>
    public bool SharesResources => _shared is not null;

    /// <summary>Completes when the QP, CQ and registered memory have been freed.</summary>
    public Task Released => _lifetime.Released;

    /// <summary>Why the connection failed, if it did.</summary>
    public string? FailureReason => _lifetime.Failure?.Message;

    // ---------------------------------------------------------------- control PDUs

    public async ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default)
    {
        Exception? error = null;
        try
        {
            ThrowIfFailed();
            await _buffers.WaitSendCreditAsync(cancellationToken).ConfigureAwait(false);
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
        if (!_buffers.TryRentSend(out RegisteredBlock block, out error)) return false;
        if (_sendQueue.Send(pdu, block, _host, out error)) return true;
        if (_lifetime.Failure is DatamoverException failed) error = failed;
        else if (_lifetime.Terminating) error = new DatamoverException($"The iSER connection to {RemoteEndPoint} is closed; PDU not sent.");
        return false;
    }

    public virtual ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default) => _received.ReadAsync(cancellationToken);

    /// <summary>
    /// Push delivery: the CQ thread hands every PDU it decodes to <paramref name="receiver"/> itself. With
    /// <paramref name="busyPoll"/> the CQ is polled without sleeping on its completion channel (one core stays busy).
    /// </summary>
    public void StartReceiving(IPduReceiver receiver, bool busyPoll = false)
    {
        if (_poller is not null) _poller.BusyPoll = busyPoll;
        else if (busyPoll) _shared!.RequestBusyPoll(); // the shared CQ's thread spins while this connection is on it
        _received.StartPushing(receiver);
    }

    public void NoticeKeyValues(ConnectionParameters parameters) => _parameters = parameters;

    public virtual void EnableDatamover(IDatamoverHost host)
    {
        var p = _parameters;
        if (p.MaxRecvDataSegmentLength > Options.ControlDataSegmentLength && p.RdmaExtensions)
            Fail(new DatamoverException(
                $"The login settled a receive data segment length of {p.MaxRecvDataSegmentLength} bytes, more than the {Options.ControlDataSegmentLength} bytes this iSER connection's receive buffers hold."));
        _host = host;
        if (_shared is not null)
        {
            if (_data is null)
                Logger.LogInformation(
                    "iSER connection {Remote}: receives from the initiators' shared receive queue ({Posted} posted for {Connections} connections on its CQ thread), send buffers of {Size} B from the shared pool (up to {Sends}); it registers only the I/O buffers of its commands",
                    RemoteEndPoint, _shared.Queues.Receives.Posted, _shared.Worker.Connections, _buffers.BlockSize, Options.SendBuffers);
            else
                Logger.LogInformation(
                    "iSER connection {Remote}: receives from the shared receive queue ({Posted} posted for {Connections} connections on its CQ thread), send buffers of {Size} B from the shared pool (up to {Sends}), up to {DataBuffers} shared data buffers of {DataSize} B; no registered memory of its own",
                    RemoteEndPoint, _shared.Queues.Receives.Posted, _shared.Worker.Connections, _buffers.BlockSize, Options.SendBuffers,
                    Options.DataBuffers, _data.BlockSize);
            return;
        }
        // Full feature phase: the ring grows to the command window plus the unexpected PDUs the peer may send.
        int wanted = Math.Min(Options.ReceiveRing(p.MaxOutstandingUnexpectedPdus), Rdma.QueuePair.Capacities.MaxReceiveWorkRequests);
        int more = wanted - _receives.Posted;
        if (more > 0) PostReceives(more);
        MemoryReport.Update(RegisteredMemoryBytes);
        Logger.LogInformation(
            "iSER connection {Remote}: {Receives} receive and up to {Sends} send buffers of {Size} B, up to {DataBuffers} shared data buffers of {DataSize} B; {Kib} KiB registered now by the connection itself",
            RemoteEndPoint, _receives.Posted, Options.SendBuffers, _buffers.BlockSize,
            _data is null ? 0 : Options.DataBuffers, _data?.BlockSize ?? 0, RegisteredMemoryBytes / 1024);
    }

    private void PostReceives(int count)
    {
        if (!_lifetime.IsClosing && !_receives.Grow(count))
            Logger.LogWarning("{Remote}: receive buffer pool exhausted after {Posted} receives", RemoteEndPoint, _receives.Posted);
    }

    bool IReceiveRingOwner.TryRentReceiveBuffer(out RegisteredBlock block) => _buffers.TryRentReceive(out block);
    void IReceiveRingOwner.ReturnReceiveBuffer(RegisteredBlock block) => _buffers.ReturnReceive(block);
    PostResult IReceiveRingOwner.PostReceive(ulong wrId, in IbvSge sge) => Rdma.QueuePair.PostReceive(wrId, new ReadOnlySpan<IbvSge>(in sge));
    void IReceiveRingOwner.ReceiveFailed(Exception error) => Fail(error);

    /// <summary>A send-queue request's buffer and credit back to their pool (a SEND's or a WRITE's); no reference.</summary>
    private void ReturnRequestBuffer(WorkRequestKind kind, RegisteredBlock block)
    {
        if (kind == WorkRequestKind.Send) _buffers.ReturnSend(block);
        else _data!.ReturnBuffer(block);
    }

    unsafe PostResult ISendQueueOwner.PostSend(IbvSendWr* chain) => Rdma.QueuePair.PostSend(chain);
    void ISendQueueOwner.ReturnBuffer(WorkRequestKind kind, RegisteredBlock block) => ReturnRequestBuffer(kind, block);
    void ISendQueueOwner.PostFailed(DatamoverException error) => Fail(error);

    // ---------------------------------------------------------------- completions

    /// <summary>A batch of this connection's completions, on the thread that polled them (its own, or a shared CQ's).</summary>
    internal void OnCompletions(ReadOnlySpan<IbvWc> completions)
    {
        // On the target a received command runs to its response on this thread: its SEND waits for the batch's end.
        _sendQueue.BeginBatch();
        try
        {
            foreach (ref readonly var wc in completions)
            {
                if (SharedReceives.Owns(wc.WrId))
                {
                    SharedReceiveCompleted(in wc); // the listener's buffer: no reference of this connection's
                    continue;
                }
                var slot = _requests.Take(wc.WrId);
                IserConnectionCounters.CompletionPolled(receive: slot.Kind == WorkRequestKind.Receive);
                try
                {
                    Route(in wc, in slot);
                }
                catch (Exception e)
                {
                    // This completion is still counted and its reference dropped: left uncounted, it would hold the
                    // connection until the drain timeout (and the rest of the batch with it).
                    Fail(e as DatamoverException ?? new DatamoverException($"Handling an iSER {slot.Kind} completion failed: {e.Message}", e));
                }
                IserConnectionCounters.Completed();
                _references.CompletionArrived();
            }
        }
        finally
        {
            _sendQueue.EndBatch();
        }
    }

    /// <summary>
    /// A receive through the shared receive queue: decoded, its buffer posted again for any connection, the PDU
    /// delivered. A failed one fails this connection (the buffer still goes back).
    /// </summary>
    private void SharedReceiveCompleted(in IbvWc wc)
    {
        IserConnectionCounters.CompletionPolled(receive: true);
        var receives = _shared!.Queues.Receives;
        RegisteredBlock block = receives.Take(wc.WrId);
        if (_lifetime.Terminating)
        {
            receives.Repost(block);
            return;
        }
        if (!wc.IsSuccess)
        {
            receives.Repost(block);
            Fail(new DatamoverException($"An iSER receive failed: {wc.StatusText}"));
            return;
        }
        Pdu pdu;
        try
        {
            pdu = IserPduCodec.Decode(block.Span[..(int)wc.ByteLen]);
        }
        catch (Exception e)
        {
            receives.Repost(block);
            Fail(e);
            return;
        }
        receives.Repost(block);
        _received.Deliver(pdu);
    }

    bool ICompletionIdleHandler.HasIdleWork => _received.HasIdleWork;
    void ICompletionIdleHandler.OnIdle(bool threadFree) => _received.Idle(threadFree);

    // A shared CQ's worker reports idle for each connection a drain touched (CompletionWorker).
    internal bool HasIdleWork => _received.HasIdleWork;
    internal void OnIdle(bool threadFree) => _received.Idle(threadFree);

    /// <summary>The shared worker's number of the drain that last touched this connection (its own bookkeeping).</summary>
    internal long IdleDrain;

    private void Route(in IbvWc wc, in WorkRequestTable.Slot slot)
    {
        if (slot.Unsignaled)
        {
            // Only a failed or flushed unsignaled request completes: the ones before it succeeded silently.
            _sendQueue.UnsignaledCompleted(slot.Order);
        }
        else if (slot.Kind == WorkRequestKind.Send)
        {
            _sendQueue.ReleaseUnsignaled(upTo: slot.Order);
        }
        bool terminating = _lifetime.Terminating;
        Exception? error = null;
        if (!wc.IsSuccess)
        {
            error = new DatamoverException(terminating || wc.Status == WorkCompletionStatus.WrFlushErr
                ? $"The iSER connection to {RemoteEndPoint} was closed ({wc.StatusText})."
                : $"An iSER {slot.Kind} work request failed: {wc.StatusText}");
        }
        switch (slot.Kind)
        {
            case WorkRequestKind.Receive:
                _receives.Completed(slot.Block, (int)wc.ByteLen, deliver: error is null && !terminating);
                break;
            case WorkRequestKind.Send:
                _buffers.ReturnSend(slot.Block);
                break;
            default:
                _data!.OnCompletion(slot, error); // an RDMA READ or WRITE: only a target posts them
                break;
        }
        if (error is not null && !_lifetime.Terminating) Fail(error);
    }

    private void OnPollerError(Exception e) => Fail(e is DatamoverException ? e : new DatamoverException($"Polling the completion queue failed: {e.Message}", e));

    // ---------------------------------------------------------------- failure and teardown (ConnectionLifetime)

    internal void ThrowIfFailed() => _lifetime.ThrowIfClosed();

    /// <summary>The connection cannot go on: the reader gets the reason, the QP is disconnected (outstanding work flushes).</summary>
    internal void Fail(Exception error) => _lifetime.Fail(error);

    /// <summary>A connection that is failing or closing lends no buffers and stages no work.</summary>
    internal bool IsClosing => _lifetime.IsClosing;

    /// <summary>
    /// Connection_Terminate: disconnects at once (outstanding work flushes) and returns; the QP, CQ and registered
    /// memory go when the last completion arrives (<see cref="Released"/>). Should the provider never flush,
    /// they are freed after <see cref="IserOptions.DrainTimeout"/> with a warning.
    /// </summary>
    public ValueTask TerminateAsync(string reason)
    {
        _lifetime.Terminate(reason);
        return ValueTask.CompletedTask;
    }

    /// <summary>A role's hook to release what it registered (the initiator's MR cache), once the QP is gone.</summary>
    internal virtual void OnResourcesFreed() { }

    /// <summary>The target's RDMA data placement; null on an initiator connection.</summary>
    private protected TargetDataTransfers? DataTransfers => _data;

    public async ValueTask DisposeAsync()
    {
        await TerminateAsync("disposed").ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
