using System.Collections.Concurrent;
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
/// An iSCSI initiator session (RFC 7143) over one connection of any transport: login, then many SCSI commands in
/// flight inside the target's CmdSN window, NOP keep-alive, task management, logout, and session recovery
/// (ErrorRecoveryLevel 0: log in again with the same ISID, re-issue what was not answered).
/// </summary>
public sealed partial class IscsiSession : IAsyncDisposable
{
    /// <summary>ITT of the keep-alive NOP-Out; never handed to a command.</summary>
    private const uint KeepAliveTag = 0xfffffffe;

    private readonly IscsiSessionOptions _options;
    private readonly IInitiatorTransport _transport;
    private readonly ILogger _logger;
    private readonly ILogger _loginLogger;
    private readonly ILogger _pduLogger;
    private readonly object _gate = new();
    private readonly Dictionary<uint, InitiatorTask> _tasks = new();
    private readonly Dictionary<uint, TaskCompletionSource<Pdu>> _exchanges = new();
    private readonly ConcurrentQueue<InitiatorTask> _taskPool = new();
    private readonly CancellationTokenSource _closing = new();
    private InitiatorConnection? _connection;
    private TaskCompletionSource<InitiatorConnection> _connected = NewConnectedSignal();
    private Exception? _failure;
    private IscsiSessionState _state = IscsiSessionState.LoggedIn;
    private bool _loggingOut;
    private uint _nextItt;
    private Task? _keepAlive;
    private int _reconnects;
    private int _targetPingsAnswered;
    private volatile bool _inlineCompletions;

    private IscsiSession(IscsiSessionOptions options, IInitiatorTransport transport)
    {
        _options = options;
        _transport = transport;
        var factory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        _logger = factory.CreateLogger("Iser.Initiator");
        _loginLogger = factory.CreateLogger("Iser.Initiator.Login");
        _pduLogger = factory.CreateLogger("Iser.Initiator.Pdu");
        _inlineCompletions = options.Completions.Inline;
        // ISID of the random format (T=10b, RFC 7143 §11.12.5): 24 random bits and a random 16-bit qualifier,
        // kept for the life of the session so a re-login reinstates it.
        Span<byte> random = stackalloc byte[5];
        RandomNumberGenerator.Fill(random);
        Isid = (0x80UL << 40) | ((ulong)random[0] << 32) | ((ulong)random[1] << 24) | ((ulong)random[2] << 16)
               | ((ulong)random[3] << 8) | random[4];
    }

    /// <summary>The 48-bit initiator session ID (low bits).</summary>
    public ulong Isid { get; }
    /// <summary>What the login settled, key by key (requested vs negotiated), for the current connection.</summary>
    public NegotiatedSession Negotiated { get; private set; } = null!;
    public string? TargetName => _options.TargetName;
    public string Portal => $"{(_options.Host.Contains(':') ? $"[{_options.Host}]" : _options.Host)}:{_options.Port}";
    public string TransportName => _transport.TransportName;
    public IscsiSessionOptions Options => _options;
    public IscsiSessionState State { get { lock (_gate) return _state; } }
    /// <summary>Why the session ended, when it did.</summary>
    public string? FailureReason { get { lock (_gate) return _failure?.Message; } }
    /// <summary>How many times the session logged in again after losing its connection.</summary>
    public int ReconnectCount => Volatile.Read(ref _reconnects);
    /// <summary>NOP-In pings from the target (TTT set) this session has answered.</summary>
    public int TargetPingsAnswered => Volatile.Read(ref _targetPingsAnswered);
    /// <summary>
    /// True while callers' continuations run inline on the completion thread (<see cref="CompletionOptions.Inline"/>);
    /// turns false for good after a continuation stalled that thread.
    /// </summary>
    public bool InlineCompletions => _inlineCompletions;
    /// <summary>Commands sent and not yet answered.</summary>
    public int OutstandingCommands { get { lock (_gate) return _tasks.Count; } }
    public string? LocalEndPoint => _connection?.Datamover.LocalEndPoint;
    public string? RemoteEndPoint => _connection?.Datamover.RemoteEndPoint;

    /// <summary>The CmdSN window as last reported by the target.</summary>
    public (uint ExpCmdSN, uint MaxCmdSN) CommandWindow => _connection is { } c ? (c.ExpCmdSN, c.MaxCmdSN) : (0, 0);

    /// <summary>Connects to the portal in <paramref name="options"/>, logs in and enters full feature phase.</summary>
    public static async Task<IscsiSession> ConnectAsync(IscsiSessionOptions options, IInitiatorTransport transport,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        var session = new IscsiSession(options.Clone(), transport);
        var connection = await session.LoginConnectionAsync(cancellationToken).ConfigureAwait(false);
        session.Install(connection);
        session._keepAlive = Task.Run(session.KeepAliveLoopAsync);
        session._logger.LogInformation("Logged in to {Target} at {Portal} over {Transport} (ISID 0x{Isid:x12})",
            session.TargetName ?? "discovery", session.Portal, transport.TransportName, session.Isid);
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
        var task = RentTask();
        task.Prepare(cdb, LunAddressing.Encode(lun), dataIn, dataOut, attribute, _inlineCompletions);
        int generation;
        try
        {
            generation = Register(task);
        }
        catch
        {
            ReturnTask(task);
            throw;
        }
        return ExecutePreparedAsync(task, generation, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ScsiResponse> ExecutePreparedAsync(InitiatorTask task, int generation, CancellationToken cancellationToken)
    {
        CancellationTokenRegistration registration = default;
        try
        {
            await IssueAsync(task, generation, cancellationToken).ConfigureAwait(false);
            if (cancellationToken.CanBeCanceled)
                registration = cancellationToken.UnsafeRegister(static state =>
                {
                    var t = (InitiatorTask)state!;
                    t.Session?.BeginAbort(t, t.Generation, new OperationCanceledException("The command was cancelled; the target was asked to abort it."));
                }, task);
            return await task.AsValueTask().ConfigureAwait(false);
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
            InitiatorConnection? connection;
            lock (_gate)
            {
                if (_tasks.TryGetValue(task.InitiatorTaskTag, out var t) && ReferenceEquals(t, task)) _tasks.Remove(task.InitiatorTaskTag);
                connection = task.Connection;
            }
            connection?.Datamover.EndTask(task);
            ReturnTask(task);
        }
    }

    private InitiatorTask RentTask()
    {
        if (!_taskPool.TryDequeue(out var task)) task = new InitiatorTask { Session = this };
        return task;
    }

    private void ReturnTask(InitiatorTask task)
    {
        lock (_gate) task.ResetForReuse();
        if (_taskPool.Count < 1024) _taskPool.Enqueue(task);
    }

    private int Register(InitiatorTask task)
    {
        lock (_gate)
        {
            if (_failure is not null) throw Wrap(_failure);
            task.InitiatorTaskTag = AllocateTagLocked();
            _tasks.Add(task.InitiatorTaskTag, task);
            return task.Generation;
        }
    }

    private uint AllocateTagLocked()
    {
        while (true)
        {
            uint itt = ++_nextItt;
            if (itt is Pdu.ReservedTag or KeepAliveTag) continue;
            if (_tasks.ContainsKey(itt) || _exchanges.ContainsKey(itt)) continue;
            return itt;
        }
    }

    private uint AllocateTag()
    {
        lock (_gate) return AllocateTagLocked();
    }

    /// <summary>
    /// Sends the command on the current connection once the CmdSN window has room. If the connection breaks first
    /// and recovery is on, it waits for the next connection and tries again.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask IssueAsync(InitiatorTask task, int generation, CancellationToken ct)
    {
        while (true)
        {
            var connection = await WaitForConnectionAsync(ct).ConfigureAwait(false);
            bool reserved = false;
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
                }
                var pdu = BuildCommandPdu(task);
                reserved = false;
                await connection.Datamover.SendCommandAsync(task, pdu, task.ReadBuffer, task.WriteBuffer, CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (reserved) connection.ReleaseUnusedSlot();
                lock (_gate)
                {
                    if (_failure is not null) throw Wrap(_failure);
                    if (task.Generation != generation || task.IsCompleted) return;
                    if (!_options.Reconnect.Enabled) throw Wrap(e);
                    if (!ReferenceEquals(task.Connection, connection) && task.Connection is not null) return; // recovery re-issued it
                    task.Connection = null;
                }
                _logger.LogDebug("Command 0x{Itt:x8} waits for the session to recover: {Error}", task.InitiatorTaskTag, e.Message);
            }
        }
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

    private async ValueTask<InitiatorConnection> WaitForConnectionAsync(CancellationToken ct)
    {
        Task<InitiatorConnection> pending;
        lock (_gate)
        {
            if (_failure is not null) throw Wrap(_failure);
            if (_connection is { Failure: null } c) return c;
            // The current connection is lost but its loss handler has not swapped the signal yet: the completed one
            // still holds the dead connection, and returning it would spin the caller until the swap. Wait for the
            // next connection instead (Install or FailSession completes this signal).
            if (_connected.Task.IsCompleted) _connected = NewConnectedSignal();
            pending = _connected.Task;
        }
        return await pending.WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>What a caller sees: our own exceptions as they are, transport failures as a lost connection.</summary>
    private static Exception Wrap(Exception e) => e is IscsiException ? e : new IscsiConnectionException(e.Message, e);

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
        var connection = _connection;
        if (connection is not null) await connection.Datamover.DisposeAsync().ConfigureAwait(false);
        if (_keepAlive is not null) { try { await _keepAlive.ConfigureAwait(false); } catch { } }
    }
}
