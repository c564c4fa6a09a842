using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Sessions;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// A logged-in session at the target: identity (initiator name, ISID, TSIH), the node it reached, and the
/// CmdSN window. MaxCmdSN only ever grows: a slot is handed back each time a command finishes, so the window
/// closes by itself when the initiator has <see cref="IscsiTargetOptions.CommandQueueDepth"/> commands queued.
/// A session has one connection or, when MaxConnections allows, several (MC/S): the CmdSN window and its ordering are
/// session-wide, StatSN and each task stay with their connection.
/// </summary>
internal sealed class TargetSession
{
    private uint _expCmdSN;
    private uint _maxCmdSN;

    public TargetSession(NegotiatedSession negotiated, TargetNode? node, ulong isid, ushort tsih, uint initialCmdSN, int queueDepth, ushort portalGroupTag)
    {
        Negotiated = negotiated;
        Node = node;
        Isid = isid;
        Tsih = tsih;
        PortalGroupTag = portalGroupTag;
        _expCmdSN = initialCmdSN;
        if (node is not null)
            // The portal group's one SCSI target port: its relative target port identifier is the TPGT.
            Nexus = new Scsi.Target.Reservations.ItNexus(negotiated.InitiatorName, isid, node.Iqn, portalGroupTag, relativeTargetPortId: portalGroupTag);
        _maxCmdSN = initialCmdSN + (uint)queueDepth - 1;
    }

    public NegotiatedSession Negotiated { get; }
    public TargetNode? Node { get; }
    public bool IsDiscovery => Node is null;
    public ulong Isid { get; }
    /// <summary>The portal group the session's connections arrived in (all of them: a session stays in one group).</summary>
    public ushort PortalGroupTag { get; }
    /// <summary>The I_T nexus of a normal session (initiator port, the portal group's target port); null in discovery.</summary>
    public Scsi.Target.Reservations.ItNexus? Nexus { get; }
    public ushort Tsih { get; }
    public string InitiatorName => Negotiated.InitiatorName;
    /// <summary>Non-immediate PDUs of all its connections, run in CmdSN order.</summary>
    public CommandSequencer Sequencer { get; } = new();
    /// <summary>MaxConnections as negotiated by the leading login.</summary>
    public int MaxConnections => Math.Max(1, Negotiated.MaxConnections);
    /// <summary>1 once the logical units were told this session's I_T nexus is gone.</summary>
    public int NexusReleased;
    /// <summary>Counts the times the session lost its last connection (ERL 2), so only the latest wait ends it.</summary>
    public int RetainEpoch;
    /// <summary>ErrorRecoveryLevel 2: tasks of a failed connection waiting for TASK REASSIGN; null below level 2.</summary>
    public OrphanedTasks? Orphans { get; init; }
    /// <summary>ErrorRecoveryLevel 2: the session outlives a failed connection until DefaultTime2Retain.</summary>
    public bool RecoversConnections => Orphans is not null;

    public uint ExpCmdSN => Volatile.Read(ref _expCmdSN);
    public uint MaxCmdSN => Volatile.Read(ref _maxCmdSN);

    private readonly List<TargetConnection> _connections = new();

    /// <summary>The connections in the session now (logged in, not yet shut down).</summary>
    public TargetConnection[] Connections { get { lock (_connections) return [.. _connections]; } }

    public int ConnectionCount => Volatile.Read(ref _connectionCount);
    private int _connectionCount;

    /// <summary>The connection with this CID, if it is still in the session.</summary>
    public TargetConnection? FindConnection(ushort cid)
    {
        lock (_connections) return _connections.Find(c => c.Cid == cid);
    }

    /// <summary>
    /// Enters a connection that completed its login (RFC 7143 §6.3.1). False when the session already has
    /// MaxConnections connections; one that replaces a connection with its CID must have closed that one first.
    /// </summary>
    public bool TryAddConnection(TargetConnection connection)
    {
        lock (_connections)
        {
            if (_connections.Count >= MaxConnections) return false;
            _connections.Add(connection);
            _connectionCount = _connections.Count;
            return true;
        }
    }

    /// <summary>A connection left the session; returns how many remain.</summary>
    public int RemoveConnection(TargetConnection connection)
    {
        lock (_connections)
        {
            _connections.Remove(connection);
            return _connectionCount = _connections.Count;
        }
    }

    /// <summary>A running task of the session by its ITT, on whichever connection it is allegiant to.</summary>
    public TargetTask? FindTask(uint itt)
    {
        foreach (var c in Connections)
            if (c.Tasks.Find(itt) is { } task) return task;
        return null;
    }

    /// <summary>Where a non-immediate command's CmdSN falls relative to the window.</summary>
    public CmdSNCheck Check(uint cmdSN)
    {
        uint exp = ExpCmdSN;
        if (cmdSN == exp) return CmdSNCheck.Expected;
        return SerialNumber.InWindow(cmdSN, exp + 1, MaxCmdSN) ? CmdSNCheck.Ahead : CmdSNCheck.OutsideWindow;
    }

    /// <summary>The expected command arrived: the next one is expected.</summary>
    public void Advance() => Interlocked.Increment(ref _expCmdSN);

    /// <summary>A non-immediate command finished: one more may be queued.</summary>
    public void ReleaseSlot() => Interlocked.Increment(ref _maxCmdSN);

    public string Describe() => $"{InitiatorName} ISID 0x{Isid:x12} TSIH {Tsih}" + (Node is null ? " (discovery)" : $" -> {Node.Iqn}");
}

internal enum CmdSNCheck { Expected, Ahead, OutsideWindow }
