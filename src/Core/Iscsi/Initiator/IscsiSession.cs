using Iser.Core.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Scsi;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// An iSCSI initiator session (RFC 7143) over one connection of any transport, or several (MC/S, when
/// <see cref="IscsiSessionOptions.MaxConnections"/> and the target allow): login, then many SCSI commands in flight
/// inside the target's CmdSN window, NOP keep-alive, task management, logout, and recovery (ErrorRecoveryLevel 0: log
/// in again with the same ISID, re-issue what was not answered; 1: SNACK and retries; 2: a failed connection's
/// commands reassigned to another connection of the session).
/// </summary>
public sealed partial class IscsiSession : IAsyncDisposable
{
    private readonly IscsiSessionOptions _options;
    private readonly IInitiatorTransport _transport;
    private readonly ILogger _logger;
    private readonly ILogger _pduLogger;
    private readonly InitiatorTaskTable _table;
    private readonly TargetPduDispatcher _dispatcher;
    private readonly SessionKeepAlive _keepAlive;
    private readonly ConnectionLogin _login;
    // The session's one lock (the task table's): guards the fields below as well as every task's connection and claim.
    private readonly object _gate;
    private readonly CancellationTokenSource _closing = new();
    // The leading connection: task management, pings, text and logout go on it. Commands go on any of _connections
    // (the live ones, the lead included), in turn; all guarded by _gate.
    private InitiatorConnection? _connection;
    private readonly List<InitiatorConnection> _connections = new();
    private int _nextConnection;
    private TaskCompletionSource<InitiatorConnection> _connected = NewConnectedSignal();
    private IscsiSessionState _state = IscsiSessionState.LoggedIn;
    private bool _loggingOut;
    private Task? _keepAliveLoop;
    private int _reconnects;
    private int _snacksSent;
    private int _connectionRecoveries;
    // The target's handle on this session (from the login), used to bring a connection back into it (ERL 2).
    private ushort _tsih;
    private int _commandRetries;
    private volatile bool _inlineCompletions;

    private IscsiSession(IscsiSessionOptions options, IInitiatorTransport transport)
    {
        _options = options;
        _transport = transport;
        var factory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        _logger = factory.CreateLogger("Iser.Initiator");
        _pduLogger = factory.CreateLogger("Iser.Initiator.Pdu");
        _inlineCompletions = options.Completions.Inline;
        // ISID of the random format (T=10b, RFC 7143 §11.12.5): 24 random bits and a random 16-bit qualifier,
        // kept for the life of the session so a re-login reinstates it.
        Span<byte> random = stackalloc byte[5];
        RandomNumberGenerator.Fill(random);
        Isid = (0x80UL << 40) | ((ulong)random[0] << 32) | ((ulong)random[1] << 24) | ((ulong)random[2] << 16)
               | ((ulong)random[3] << 8) | random[4];
        _table = new InitiatorTaskTable(this);
        _gate = _table.Gate;
        _dispatcher = new TargetPduDispatcher(this, _table, _logger);
        _keepAlive = new SessionKeepAlive(this, _table, options, _logger);
        _login = new ConnectionLogin(options, transport, Isid, factory.CreateLogger("Iser.Initiator.Login"), _pduLogger);
    }

    /// <summary>The 48-bit initiator session ID (low bits).</summary>
    public ulong Isid { get; }
    /// <summary>What the login settled, key by key (requested vs negotiated), for the current connection.</summary>
    public NegotiatedSession Negotiated { get; private set; } = null!;
    public string? TargetName => _options.TargetName;
    public string Portal => _options.Portal;
    public string TransportName => _transport.TransportName;
    public IscsiSessionOptions Options => _options;
    public IscsiSessionState State { get { lock (_gate) return _state; } }
    /// <summary>Why the session ended, when it did.</summary>
    public string? FailureReason => _table.Failure?.Message;
    /// <summary>How many times the session logged in again after losing its connection.</summary>
    public int ReconnectCount => Volatile.Read(ref _reconnects);
    /// <summary>ERL 2: connections replaced inside the session (same TSIH) with their tasks reassigned.</summary>
    public int ConnectionRecoveries => Volatile.Read(ref _connectionRecoveries);
    /// <summary>The target-assigned session handle.</summary>
    public ushort Tsih => _tsih;
    /// <summary>ERL 1: SNACK Requests sent (data, status or DataACK).</summary>
    public int SnacksSent => Volatile.Read(ref _snacksSent);
    /// <summary>ERL 1: commands sent again as retries (same ITT and CmdSN).</summary>
    public int CommandRetries => Volatile.Read(ref _commandRetries);
    /// <summary>NOP-In pings from the target (TTT set) this session has answered.</summary>
    public int TargetPingsAnswered => _dispatcher.TargetPingsAnswered;
    /// <summary>
    /// True while callers' continuations run inline on the completion thread (<see cref="CompletionOptions.Inline"/>);
    /// turns false for good after a continuation stalled that thread.
    /// </summary>
    public bool InlineCompletions => _inlineCompletions;
    /// <summary>After a continuation stalled the completion thread: every later command completes on the thread pool.</summary>
    internal void StopInlineCompletions() => _inlineCompletions = false;
    /// <summary>Commands sent and not yet answered.</summary>
    public int OutstandingCommands => _table.Count;
    internal InitiatorConnection? CurrentConnection => _connection;
    /// <summary>The live connections, the leading one first.</summary>
    internal InitiatorConnection[] LiveConnections { get { lock (_gate) return [.. _connections]; } }
    /// <summary>Connections the session has now (more than one with MC/S).</summary>
    public int ConnectionCount { get { lock (_gate) return _connections.Count; } }
    public string? LocalEndPoint => _connection?.Datamover.LocalEndPoint;
    public string? RemoteEndPoint => _connection?.Datamover.RemoteEndPoint;

    /// <summary>The CmdSN window as last reported by the target.</summary>
    public (uint ExpCmdSN, uint MaxCmdSN) CommandWindow => _connection is { } c ? (c.Window.ExpCmdSN, c.Window.MaxCmdSN) : (0, 0);

    /// <summary>Connects to the portal in <paramref name="options"/>, logs in and enters full feature phase.</summary>
    public static async Task<IscsiSession> ConnectAsync(IscsiSessionOptions options, IInitiatorTransport transport,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        if (options.ErrorRecoveryLevel is < 0 or > IscsiSessionOptions.MaxSupportedErrorRecoveryLevel)
            throw new ArgumentOutOfRangeException(nameof(options), options.ErrorRecoveryLevel,
                $"ErrorRecoveryLevel must be 0 to {IscsiSessionOptions.MaxSupportedErrorRecoveryLevel}.");
        var session = new IscsiSession(options.Clone(), transport);
        var (connection, negotiated, tsih) = await session._login.ConnectAsync(cancellationToken).ConfigureAwait(false);
        session.Negotiated = negotiated;
        session._tsih = tsih;
        session.Install(connection);
        InitiatorMetrics.Sessions.Add(1); // until FailSession, which ends every session once
        session._keepAliveLoop = Task.Run(() => session._keepAlive.RunAsync(session._closing.Token));
        session._logger.LogInformation("Logged in to {Target} at {Portal} over {Transport} (ISID 0x{Isid:x12})",
            session.TargetName ?? "discovery", session.Portal, transport.TransportName, session.Isid);
        await session.AddConnectionsAsync(cancellationToken).ConfigureAwait(false);
        return session;
    }

    /// <summary>A handle on one LUN, with its capacity read (READ CAPACITY 16, falling back to 10).</summary>
    public async Task<IscsiLun> OpenLunAsync(int lun, CancellationToken cancellationToken = default)
    {
        var handle = new IscsiLun(this, lun);
        await handle.ReadCapacityAsync(cancellationToken).ConfigureAwait(false);
        return handle;
    }

    /// <summary>
    /// Runs one raw SCSI command. Returns the status (with decoded sense and residual) as the target reported it;
    /// throws <see cref="IscsiConnectionException"/> when the session cannot deliver it, <see cref="OperationCanceledException"/>
    /// when cancelled (the target is sent ABORT TASK), <see cref="IscsiCommandTimeoutException"/> after
    /// <see cref="IscsiSessionOptions.CommandTimeout"/>.
    /// </summary>
    public ValueTask<ScsiResponse> ExecuteAsync(ScsiCommand request, CancellationToken cancellationToken = default) =>
        ExecuteAsync(request.Lun, request.Cdb.Span, request.DataIn, request.DataOut, cancellationToken, request.Attribute);

    /// <summary>The same as <see cref="ExecuteAsync(ScsiCommand, CancellationToken)"/> with the CDB as a span: it is copied
    /// before this method returns, so a caller may build it on the stack.</summary>
    public ValueTask<ScsiResponse> ExecuteAsync(int lun, ReadOnlySpan<byte> cdb, Memory<byte> dataIn, ReadOnlyMemory<byte> dataOut,
        CancellationToken cancellationToken = default, ScsiTaskAttribute attribute = ScsiTaskAttribute.Simple)
    {
        if (cdb.Length is < 1 or > 16)
            throw new ArgumentException($"A CDB is 1 to 16 bytes long (this one is {cdb.Length}); extended CDBs are not supported.", nameof(cdb));
        if (!dataIn.IsEmpty && !dataOut.IsEmpty)
            throw new ArgumentException("Bidirectional commands (both a read and a write buffer) are not supported.", nameof(dataIn));
        if (Negotiated.IsDiscovery) throw new InvalidOperationException("A discovery session carries no SCSI commands.");
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<ScsiResponse>(cancellationToken);
        var task = _table.Rent();
        task.Prepare(cdb, LunAddressing.Encode(lun), dataIn, dataOut, attribute, _inlineCompletions);
        int generation;
        try
        {
            generation = _table.Register(task);
        }
        catch
        {
            _table.Return(task);
            throw;
        }
        return ExecutePreparedAsync(task, generation, lun, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ScsiResponse> ExecutePreparedAsync(InitiatorTask task, int generation, int lun, CancellationToken cancellationToken)
    {
        CancellationTokenRegistration registration = default;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        byte opcode = task.Cdb[0];
        bool isRead = task.IsRead;
        int transferred = 0;
        InitiatorMetrics.InFlight.Add(1);
        try
        {
            await IssueAsync(task, generation, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.CanBeCanceled)
                registration = cancellationToken.UnsafeRegister(static state =>
                {
                    var t = (InitiatorTask)state!;
                    t.Session?.BeginAbort(t, t.Generation, new OperationCanceledException("The command was cancelled; the target was asked to abort it."));
                }, task);
            var response = await task.AsValueTask().ConfigureAwait(false);
            transferred = response.TransferredLength;
            return response;
        }
        finally
        {
            InitiatorMetrics.InFlight.Add(-1);
            InitiatorMetrics.CommandEnded(opcode, lun, started, transferred, isRead);
            await registration.DisposeAsync().ConfigureAwait(false);
            _table.Remove(task)?.Datamover.EndTask(task);
            _table.Return(task);
        }
    }

    /// <summary>
    /// Sends the command on the current connection once the CmdSN window has room. If the connection breaks first
    /// and recovery is on, it waits for the next connection and tries again.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask IssueAsync(InitiatorTask task, int generation, CancellationToken ct)
    {
        InitiatorConnection? failedOn = null;
        while (true)
        {
            // Not the connection a send just failed on: its loss may not be handled yet, and trying it again at once
            // (its window slot handed back) would spin without ever yielding to the handler.
            var connection = await WaitForConnectionAsync(ct, avoid: failedOn).ConfigureAwait(false);
            bool reserved = false, handed = false;
            try
            {
                await connection.AcquireSlotAsync(ct).ConfigureAwait(false);
                reserved = true;
                lock (_gate)
                {
                    if (task.Generation != generation || task.IsCompleted || task.Connection is not null)
                    {
                        connection.ReleaseUnusedSlot();
                        return; // ended meanwhile, or recovery already took it over
                    }
                    task.Connection = connection;
                    task.SentTicks = Environment.TickCount64;
                    handed = true;
                }
                var pdu = BuildCommandPdu(task);
                await connection.Datamover.SendCommandAsync(task, pdu, task.ReadBuffer, task.WriteBuffer, CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                bool canRetry;
                lock (_gate)
                {
                    if (handed)
                    {
                        // Handed to the connection's send: recovery may have taken the command over (with its slot), or
                        // the writer numbered it, in which case the connection's loss handling owns it now (reassign,
                        // retry or re-issue): sending it again here would leave a hole in the CmdSN sequence.
                        if (!ReferenceEquals(task.Connection, connection) || task.StampedOn is not null)
                        {
                            if (_table.Failure is { } lost) throw Wrap(lost);
                            return;
                        }
                        task.Connection = null;
                    }
                    // Reserved and never numbered: the slot goes back.
                    if (reserved) connection.ReleaseUnusedSlot();
                    if (_table.Failure is { } failure) throw Wrap(failure);
                    if (task.Generation != generation || task.IsCompleted) return;
                    // Another live connection of the session (MC/S) can carry it, or recovery will bring one: session
                    // recovery (a new login), or at ERL 2 connection recovery (a new connection into this session).
                    canRetry = _options.Reconnect.Enabled || Negotiated.ErrorRecoveryLevel >= 2
                        || _connections.Exists(c => c.Failure is null && !ReferenceEquals(c, connection));
                }
                if (!canRetry) throw Wrap(e);
                failedOn = connection;
                _logger.LogDebug("Command 0x{Itt:x8} waits for the session to recover: {Error}", task.InitiatorTaskTag, e.Message);
            }
        }
    }

    /// <summary>ERL 1: the command with this tag is sent again as a retry (see <see cref="Retry(InitiatorTask, int, string)"/>).</summary>
    internal void Retry(uint itt, string why)
    {
        InitiatorTask? task;
        int generation;
        lock (_gate)
        {
            if (!_table.TryGetLocked(itt, out task)) return;
            generation = task.Generation;
        }
        Retry(task, generation, why);
    }

    /// <summary>
    /// ERL 1 (RFC 7143 §6.2.1): sends the command again with its ITT, CmdSN and CDB. The target answers a command it
    /// finished by sending its data and status again, asks again for write data it lacks, or runs one it never received;
    /// it never runs one twice. Where the transport cannot retry, the command is aborted instead.
    /// </summary>
    internal void Retry(InitiatorTask task, int generation, string why)
    {
        InitiatorConnection connection;
        Pdu pdu;
        lock (_gate)
        {
            if (task.Generation != generation || task.IsCompleted || task.Aborting != 0) return;
            if (task.Connection is not { Failure: null } c) return;
            connection = c;
            task.RetriedTicks = Environment.TickCount64;
            task.Retries++;
            task.DropHeldStatus(); // the target sends data and status again
            pdu = BuildCommandPdu(task);
            pdu.Retransmission = true;
        }
        Interlocked.Increment(ref _commandRetries);
        _logger.LogWarning("{Portal}: retrying command 0x{Itt:x8} (CmdSN {CmdSN}, retry {Retry}): {Why}", Portal, task.InitiatorTaskTag, task.CmdSN, task.Retries, why);
        _ = RetryAsync(connection, task, generation, pdu);
    }

    private async Task RetryAsync(InitiatorConnection connection, InitiatorTask task, int generation, Pdu pdu)
    {
        bool sent;
        try
        {
            sent = await connection.Datamover.RetryCommandAsync(task, pdu).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogDebug("{Portal}: retry of 0x{Itt:x8} not sent: {Error}", Portal, task.InitiatorTaskTag, e.Message);
            return; // the connection is going; recovery takes the command over
        }
        if (sent) return;
        PduPool.Return(pdu);
        BeginAbort(task, generation, new IscsiCommandTimeoutException(
            $"The command (opcode 0x{task.Cdb[0]:x2}) got no answer from {Portal} and this transport cannot retry it; it was aborted."));
    }

    private static Pdu BuildCommandPdu(InitiatorTask task)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.ScsiCommand;
        byte flags = (byte)((byte)task.Attribute & 0x07);
        if (task.IsRead) flags |= 0x40;
        if (task.IsWrite) flags |= 0x20;
        pdu.Flags = (byte)(flags | 0x80);
        pdu.Lun = task.Lun;
        pdu.InitiatorTaskTag = task.InitiatorTaskTag;
        pdu.Field20 = (uint)task.ExpectedDataTransferLength;
        task.Cdb.AsSpan(0, 16).CopyTo(pdu.Bhs.AsSpan(32));
        pdu.Context = task;
        return pdu;
    }

    private async ValueTask<InitiatorConnection> WaitForConnectionAsync(CancellationToken ct, InitiatorConnection? avoid = null)
    {
        Task<InitiatorConnection> pending;
        lock (_gate)
        {
            if (_table.Failure is { } failure) throw Wrap(failure);
            // Commands take the live connections in turn (MC/S); with one connection this is the lead.
            for (int tries = _connections.Count; tries > 0; tries--)
            {
                var next = _connections[(int)((uint)_nextConnection++ % (uint)_connections.Count)];
                if (next.Failure is null && !ReferenceEquals(next, avoid)) return next;
            }
            if (_connection is { Failure: null } c && !ReferenceEquals(c, avoid)) return c;
            // The current connection is lost but its loss handler has not swapped the signal yet: the completed one
            // still holds the dead connection, and returning it would spin the caller until the swap. Wait for the
            // next connection instead (Install or FailSession completes this signal).
            if (_connected.Task.IsCompleted) _connected = NewConnectedSignal();
            pending = _connected.Task;
        }
        if (avoid is null) return await pending.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await pending.WaitAsync(AvoidedConnectionGrace, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // No loss was handled and no other connection came: the failure was the command's own, not the
            // connection's (a refused registration, say), so the connection may carry it again.
            return await WaitForConnectionAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>How long a command whose send failed waits for the connection's loss to be handled before trying it again.</summary>
    private static readonly TimeSpan AvoidedConnectionGrace = TimeSpan.FromMilliseconds(100);

    /// <summary>What a caller sees: our own exceptions as they are, transport failures as a lost connection.</summary>
    internal static Exception Wrap(Exception e) => e is IscsiException ? e : new IscsiConnectionException(e.Message, e);

    private static TaskCompletionSource<InitiatorConnection> NewConnectedSignal()
    {
        var signal = new TaskCompletionSource<InitiatorConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = signal.Task.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        return signal;
    }

    public async ValueTask DisposeAsync()
    {
        bool live;
        lock (_gate) live = _state is IscsiSessionState.LoggedIn or IscsiSessionState.Recovering;
        if (live)
        {
            try { await LogoutAsync().ConfigureAwait(false); }
            catch (Exception e) { _logger.LogDebug("Logout while disposing failed: {Error}", e.Message); }
        }
        FailSession(new IscsiException("The session was closed."), IscsiSessionState.LoggedOut);
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
        InitiatorConnection[] connections;
        lock (_gate)
        {
            // The current connection is normally one of _connections; during a reconnect it may not be yet.
            connections = [.. _connections];
            if (_connection is { } current && !_connections.Contains(current)) connections = [current, .. connections];
        }
        foreach (var c in connections) await c.Datamover.DisposeAsync().ConfigureAwait(false);
        if (_keepAliveLoop is not null) { try { await _keepAliveLoop.ConfigureAwait(false); } catch { } }
    }
}
