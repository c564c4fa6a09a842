using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Sessions;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// A logged-in session at the target: identity (initiator name, ISID, TSIH), the node it reached, and the
/// CmdSN window. MaxCmdSN only ever grows: a slot is handed back each time a command finishes, so the window
/// closes by itself when the initiator has <see cref="IscsiTargetOptions.CommandQueueDepth"/> commands queued.
/// </summary>
internal sealed class TargetSession
{
    private uint _expCmdSN;
    private uint _maxCmdSN;

    public TargetSession(NegotiatedSession negotiated, TargetNode? node, ulong isid, ushort tsih, uint initialCmdSN, int queueDepth)
    {
        Negotiated = negotiated;
        Node = node;
        Isid = isid;
        Tsih = tsih;
        _expCmdSN = initialCmdSN;
        _maxCmdSN = initialCmdSN + (uint)queueDepth - 1;
    }

    public NegotiatedSession Negotiated { get; }
    public TargetNode? Node { get; }
    public bool IsDiscovery => Node is null;
    public ulong Isid { get; }
    public ushort Tsih { get; }
    public string InitiatorName => Negotiated.InitiatorName;
    public TargetConnection? Connection { get; set; }
    /// <summary>1 once the logical units were told this session's I_T nexus is gone.</summary>
    public int NexusReleased;
    /// <summary>ErrorRecoveryLevel 2: tasks of a failed connection waiting for TASK REASSIGN; null below level 2.</summary>
    public OrphanedTasks? Orphans { get; init; }
    /// <summary>ErrorRecoveryLevel 2: the session outlives a failed connection until DefaultTime2Retain.</summary>
    public bool RecoversConnections => Orphans is not null;

    public uint ExpCmdSN => Volatile.Read(ref _expCmdSN);
    public uint MaxCmdSN => Volatile.Read(ref _maxCmdSN);

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
