using System.Collections.Concurrent;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Login;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// An iSCSI target: target nodes with their LUNs, served on one or more portals through whatever datamover
/// listeners it is given (TCP, iSER). Owns the session table (for reinstatement and TMF resets) and shutdown.
/// </summary>
public sealed class IscsiTarget : IAsyncDisposable
{
    private readonly Dictionary<string, TargetNode> _nodes = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<PortalListener> _listeners = new();
    private readonly List<Task> _acceptLoops = new();
    private readonly ConcurrentDictionary<TargetConnection, byte> _connections = new();
    private readonly object _sessionGate = new();
    // A session is named by its initiator, ISID, target and portal group (RFC 7143 SSID = ISID + TPGT).
    private readonly Dictionary<(string Initiator, ulong Isid, string Target, ushort Tpgt), TargetSession> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _nextTsih;
    private int _stopRequested;

    public IscsiTarget(IscsiTargetOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        Options = options ?? new IscsiTargetOptions();
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        Logger = LoggerFactory.CreateLogger("Iser.Target");
        AccessStates.Changed += OnAccessStateChanged;
        _unitHost = new TargetUnitHost(this);
    }

    private readonly TargetUnitHost _unitHost;

    public IscsiTargetOptions Options { get; }
    internal ILoggerFactory LoggerFactory { get; }
    internal ILogger Logger { get; }
    public IReadOnlyCollection<TargetNode> Nodes => _nodes.Values;
    public IReadOnlyList<IDatamoverListener> Listeners => _listeners.ConvertAll(p => p.Listener);
    /// <summary>The listeners with their portal group tags.</summary>
    public IReadOnlyList<PortalListener> Portals => _listeners;

    /// <summary>
    /// The ALUA state of each target port group (= portal group), shared by every logical unit of every node: a group
    /// appears when the target first listens in it, active/optimized.
    /// </summary>
    public AsymmetricAccessStates AccessStates { get; } = new();

    /// <summary>
    /// Sets the asymmetric access state of portal group <paramref name="group"/> (an implicit transition): commands through
    /// it are then allowed or refused as SPC-4 §5.15.2.4 says, and every nexus is told ASYMMETRIC ACCESS STATE CHANGED.
    /// The group must have a listener.
    /// </summary>
    public void SetAccessState(ushort group, AluaState state) => AccessStates.SetState(group, state);

    private void OnAccessStateChanged(Scsi.Target.Reservations.ItNexus? except)
    {
        foreach (var node in _nodes.Values)
            foreach (var unit in node.Luns.Values) unit.OnAsymmetricAccessStateChanged(except);
    }
    /// <summary>StopAsync or DisposeAsync began: connections end with their tasks.</summary>
    internal bool IsStopping => _stopping.IsCancellationRequested;
    /// <summary>Sessions currently logged in (normal and discovery).</summary>
    public int SessionCount { get { lock (_sessionGate) return _sessions.Count; } }
    /// <summary>Connections accepted and not yet shut down (login phase included).</summary>
    internal int ConnectionCount => _connections.Count;

    /// <summary>
    /// ErrorRecoveryLevel 1: tasks kept after their status until the initiator acknowledges it, and the read data they
    /// hold for a possible resend, over all connections (what recovery costs in memory).
    /// </summary>
    public (int Tasks, long Bytes) RetainedForRecovery
    {
        get
        {
            int tasks = 0;
            long bytes = 0;
            foreach (var c in _connections.Keys)
            {
                var (t, b) = c.RetainedForRecovery;
                tasks += t;
                bytes += b;
            }
            return (tasks, bytes);
        }
    }

    public void AddNode(TargetNode node)
    {
        if (!_nodes.TryAdd(node.Iqn, node)) throw new ArgumentException($"Target {node.Iqn} is already defined.");
        node.Host = _unitHost;
        foreach (var unit in node.Luns.Values) unit.AttachHost(_unitHost);
    }

    internal TargetNode? FindNode(string? iqn) => iqn is not null && _nodes.TryGetValue(iqn, out var n) ? n : null;

    /// <summary>
    /// Starts accepting connections on <paramref name="listener"/>, in portal group <paramref name="portalGroupTag"/> (1 to
    /// 65535: the group's target port takes the tag as relative target port identifier, and 0 is reserved for that); the
    /// target owns the listener from now on.
    /// </summary>
    public void Listen(IDatamoverListener listener, ushort portalGroupTag = 1)
    {
        if (portalGroupTag == 0)
            throw new ArgumentOutOfRangeException(nameof(portalGroupTag), "Portal group tag 0 cannot be used: the group's SCSI target port would have relative target port identifier 0, which SPC-4 reserves.");
        AccessStates.AddGroup(portalGroupTag);
        _listeners.Add(new PortalListener(listener, portalGroupTag));
        _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listener, portalGroupTag)));
        Logger.LogInformation("Listening on {EndPoint} ({Transport}), portal group {Tpgt}", listener.LocalEndPoint, listener.TransportName, portalGroupTag);
    }

    private async Task AcceptLoopAsync(IDatamoverListener listener, ushort portalGroupTag)
    {
        while (!_stopping.IsCancellationRequested)
        {
            ITargetDatamover datamover;
            try
            {
                datamover = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            // Stopping disposes the listeners first (an accept pending then ends "Operation canceled"): not a failure.
            catch (Exception e) when (_stopping.IsCancellationRequested || Volatile.Read(ref _stopRequested) != 0 || e is ObjectDisposedException)
            {
                return;
            }
            catch (Exception e)
            {
                Logger.LogWarning("Accept on {EndPoint} failed: {Error}", listener.LocalEndPoint, e.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }
            var connection = new TargetConnection(this, datamover, portalGroupTag, LoggerFactory);
            _connections.TryAdd(connection, 0);
            _ = RunConnectionAsync(connection);
        }
    }

    private async Task RunConnectionAsync(TargetConnection connection)
    {
        try
        {
            await connection.RunAsync(_stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection, out _);
        }
    }

    internal ushort AllocateTsih()
    {
        while (true)
        {
            int t = Interlocked.Increment(ref _nextTsih) & 0xffff;
            if (t != 0) return (ushort)t;
        }
    }

    /// <summary>
    /// Binds a completed login to a session and enters <paramref name="connection"/> into it. A new login (TSIH 0) with
    /// the ISID of a live session reinstates it: the old session's connections close and its tasks end (RFC 7143
    /// §6.3.5). A login with the session's TSIH adds a connection (MC/S) up to MaxConnections; one that names the CID of
    /// a connection still in the session replaces it (connection reinstatement, §6.3.4): at ERL 2 the old connection's
    /// tasks wait for TASK REASSIGN, below it they end.
    /// </summary>
    internal async ValueTask<(TargetSession? Session, LoginStatus Status)> BindSessionAsync(
        NegotiatedSession negotiated, TargetNode? node, ulong isid, ushort tsih, ushort cid, uint cmdSN, TargetConnection connection)
    {
        var key = (negotiated.InitiatorName, isid, node?.Iqn ?? "<discovery>", connection.PortalGroupTag);
        TargetSession? old;
        lock (_sessionGate) _sessions.TryGetValue(key, out old);
        if (tsih != 0)
        {
            if (old is null || old.Tsih != tsih) return (null, LoginStatus.SessionDoesNotExist);
            // A session's connections all move data the same way: iSER and TCP do not mix (RDMAExtensions is leading-only).
            if (old.Negotiated.Connection.RdmaExtensions != connection.Datamover.PlacesDataDirectly)
            {
                Logger.LogWarning("A {Transport} connection cannot join session {Session}, whose leading connection uses the other transport",
                    connection.Datamover.TransportName, old.Describe());
                return (null, LoginStatus.InitiatorError);
            }
            if (old.FindConnection(cid) is { } replaced && !ReferenceEquals(replaced, connection))
            {
                Logger.LogInformation("Reinstating connection {Cid} of session {Session}", cid, old.Describe());
                await replaced.CloseAsync("connection reinstated by a login with its CID", handOverTasks: old.RecoversConnections).ConfigureAwait(false);
                await replaced.Finished.ConfigureAwait(false);
            }
            if (!old.TryAddConnection(connection)) return (null, LoginStatus.TooManyConnections);
            return (old, LoginStatus.Success);
        }
        if (old is not null)
        {
            Logger.LogInformation("Reinstating session {Session}", old.Describe());
            // The old session's nexus is lost before the new one's first command runs (what it held, such as a
            // prevention of medium removal or a RESERVE(6), must not outlive it into the new session).
            foreach (var c in old.Connections)
            {
                await c.CloseAsync("session reinstated by a new login with the same ISID").ConfigureAwait(false);
                await c.Finished.ConfigureAwait(false);
            }
            RemoveSession(old); // a retained session (ERL 2) with no connection left ends here too
        }
        var session = new TargetSession(negotiated, node, isid, AllocateTsih(), cmdSN, Options.CommandQueueDepth, connection.PortalGroupTag)
        {
            Orphans = negotiated.ErrorRecoveryLevel >= 2 && node is not null
                ? new OrphanedTasks(TimeSpan.FromSeconds(Math.Max(1, negotiated.DefaultTime2Retain)), Logger)
                : null,
        };
        session.TryAddConnection(connection);
        lock (_sessionGate) _sessions[key] = session;
        Diagnostics.TargetMetrics.Sessions.Add(1);
        return (session, LoginStatus.Success);
    }

    /// <summary>
    /// ERL 2: the session's last connection failed; the session stays for DefaultTime2Retain so a new connection can
    /// take its tasks over, and ends then if none logged in.
    /// </summary>
    internal void RetainSession(TargetSession session)
    {
        int epoch = Interlocked.Increment(ref session.RetainEpoch);
        _ = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, session.Negotiated.DefaultTime2Retain))).ConfigureAwait(false);
            // Taken over meanwhile, or lost again later (that loss's own wait decides).
            if (session.ConnectionCount > 0 || Volatile.Read(ref session.RetainEpoch) != epoch) return;
            RemoveSession(session);
            Logger.LogInformation("Session {Session} ended: no connection took it over within DefaultTime2Retain", session.Describe());
        });
    }

    /// <summary>
    /// Ends every session of <paramref name="node"/> whose initiator the node's access list no longer allows (after it
    /// changed at run time); sessions still allowed carry on. Returns how many were ended.
    /// </summary>
    public async Task<int> CloseSessionsNotAllowedAsync(TargetNode node)
    {
        TargetSession[] refused;
        lock (_sessionGate) refused = _sessions.Values.Where(s => ReferenceEquals(s.Node, node) && !node.Allows(s.InitiatorName)).ToArray();
        foreach (var session in refused)
        {
            Logger.LogInformation("Ending session {Session}: its initiator is no longer in {Target}'s access list", session.Describe(), node.Iqn);
            foreach (var connection in session.Connections)
                await connection.CloseAsync("the initiator is no longer allowed by the target's access list").ConfigureAwait(false);
        }
        return refused.Length;
    }

    /// <summary>
    /// The session ends: it leaves the table, its nexus is released, and what it still held for recovery goes (tasks
    /// retained for TASK REASSIGN, PDUs waiting in its CmdSN order).
    /// </summary>
    internal void RemoveSession(TargetSession session)
    {
        var key = (session.InitiatorName, session.Isid, session.Node?.Iqn ?? "<discovery>", session.PortalGroupTag);
        bool removed;
        lock (_sessionGate)
        {
            removed = _sessions.TryGetValue(key, out var s) && ReferenceEquals(s, session) && _sessions.Remove(key);
        }
        if (removed) Diagnostics.TargetMetrics.Sessions.Add(-1);
        ReleaseNexus(session);
        session.Orphans?.Clear();
        session.Sequencer.Clear();
    }

    /// <summary>
    /// The session's I_T nexus is gone (SAM-5 §6.3.4): its logical units drop what they held for it alone (a RESERVE(6)).
    /// Once per session: at a logout before its response goes out (the initiator may use the LUN from another session
    /// the moment it has it), else when the session is removed.
    /// </summary>
    internal void ReleaseNexus(TargetSession session)
    {
        if (session.Node is not { } node || session.Nexus is not { } nexus || Interlocked.Exchange(ref session.NexusReleased, 1) != 0) return;
        foreach (var unit in node.Luns.Values) unit.OnNexusLoss(nexus);
    }

    /// <summary>
    /// Aborts the tasks <paramref name="which"/> selects of every session of <paramref name="node"/> whose nexus
    /// <paramref name="whose"/> selects (PREEMPT AND ABORT, run here or by another target of a shared medium), and waits
    /// until they left their logical unit.
    /// </summary>
    internal async Task<int> AbortTasksAsync(TargetNode node, Func<ItNexus, bool> whose, Func<TargetTask, bool> which)
    {
        int aborted = 0;
        foreach (var c in ConnectionsOf(node).ToArray())
            if (c.Session?.Nexus is { } nexus && whose(nexus))
                aborted += await c.AbortAsync(c.Tasks.Where(which)).ConfigureAwait(false);
        return aborted;
    }

    /// <summary>Connections in full feature phase on sessions of <paramref name="node"/>.</summary>
    internal IEnumerable<TargetConnection> ConnectionsOf(TargetNode node) =>
        _connections.Keys.Where(c => ReferenceEquals(c.Session?.Node, node));

    /// <summary>
    /// Stops listening, asks every session to log out (Async Message, event 1), waits up to
    /// <see cref="IscsiTargetOptions.LogoutGracePeriod"/>, closes what remains and flushes every logical unit.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) != 0) return;
        foreach (var l in _listeners) await l.Listener.DisposeAsync().ConfigureAwait(false);
        // Connections keep running through the grace period so they can answer the logout they are asked for;
        // cancelling them first would drop them before the initiator could log out.
        foreach (var c in _connections.Keys) c.RequestLogout();
        var deadline = DateTime.UtcNow + Options.LogoutGracePeriod;
        while (!_connections.IsEmpty && DateTime.UtcNow < deadline) await Task.Delay(50).ConfigureAwait(false);
        _stopping.Cancel();
        foreach (var c in _connections.Keys) await c.CloseAsync("target shutting down").ConfigureAwait(false);
        try { await Task.WhenAll(_acceptLoops).ConfigureAwait(false); } catch { }
        foreach (var node in _nodes.Values)
            foreach (var lu in node.Luns.Values)
            {
                try { await lu.FlushAsync(CancellationToken.None).ConfigureAwait(false); }
                catch (Exception e) { Logger.LogError("Flushing a LUN of {Iqn} failed: {Error}", node.Iqn, e.Message); }
            }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        foreach (var node in _nodes.Values)
            foreach (var lu in node.Luns.Values) await lu.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
