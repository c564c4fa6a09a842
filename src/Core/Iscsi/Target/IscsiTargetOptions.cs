using Iser.Core.Iscsi.Login;

namespace Iser.Core.Iscsi.Target;

/// <summary>Settings of an <see cref="IscsiTarget"/>: what it offers at login and how it watches its connections.</summary>
public sealed class IscsiTargetOptions
{
    /// <summary>Commands a session may have outstanding; sets the CmdSN window (MaxCmdSN - ExpCmdSN + 1).</summary>
    public int CommandQueueDepth { get; set; } = 128;
    public int MaxRecvDataSegmentLength { get; set; } = 256 * 1024;
    public int MaxBurstLength { get; set; } = 1024 * 1024;
    public int FirstBurstLength { get; set; } = 64 * 1024;
    public bool ImmediateData { get; set; } = true;
    public bool InitialR2T { get; set; } = false;
    public int MaxOutstandingR2T { get; set; } = 8;
    /// <summary>Digests the target accepts, in order of preference ("CRC32C,None" accepts both).</summary>
    public string HeaderDigest { get; set; } = "None,CRC32C";
    public string DataDigest { get; set; } = "None,CRC32C";
    /// <summary>
    /// The highest ErrorRecoveryLevel offered (RFC 7143 §13.20; the session takes the lower of both sides' offers):
    /// 0 recovers by a new session login only; 1 adds SNACK, retries and digest-error recovery within a connection;
    /// 2 adds connection recovery: a failed connection's tasks wait DefaultTime2Retain for TASK REASSIGN on a new one.
    /// </summary>
    public int ErrorRecoveryLevel { get; set; } = 2;
    /// <summary>
    /// Connections a session may have (MaxConnections, RFC 7143 §13.2; the session takes the lower offer). Above 1 an
    /// initiator may spread one session over several connections (MC/S), which share the CmdSN window.
    /// </summary>
    public int MaxConnections { get; set; } = 8;
    /// <summary>Largest Expected Data Transfer Length accepted for one command.</summary>
    public int MaxTransferLength { get; set; } = 16 * 1024 * 1024;
    /// <summary>Idle time after which the target pings with a NOP-In that asks for a reply; zero turns it off.</summary>
    public TimeSpan NopInInterval { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How long the target waits for the NOP-Out answering its ping before dropping the connection.</summary>
    public TimeSpan NopInTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// NOP-In ping interval on iSER connections, where an idle RC queue pair never learns that its peer is gone
    /// (RFC 7145 has no transport keep-alive); zero turns it off. TCP connections use <see cref="NopInInterval"/>.
    /// </summary>
    public TimeSpan IserNopInInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How long an iSER ping may go unanswered before the connection is torn down.</summary>
    public TimeSpan IserNopInTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Time a login may take before the connection is dropped.</summary>
    public TimeSpan LoginTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>On shutdown, how long sessions get to log out after the Async Message asking them to.</summary>
    public TimeSpan LogoutGracePeriod { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The highest level this target implements.</summary>
    public const int MaxSupportedErrorRecoveryLevel = 2;

    /// <param name="iser">An iSER connection: recovery stops at level 1 (RDMA placement is never resent, and a failed
    /// iSER connection's tasks are not taken over by another).</param>
    internal OperationalLimits ToLimits(bool iser = false) => new()
    {
        MaxRecvDataSegmentLength = MaxRecvDataSegmentLength,
        MaxBurstLength = MaxBurstLength,
        FirstBurstLength = FirstBurstLength,
        ImmediateData = ImmediateData,
        InitialR2T = InitialR2T,
        MaxOutstandingR2T = MaxOutstandingR2T,
        HeaderDigest = HeaderDigest,
        DataDigest = DataDigest,
        MaxConnections = MaxConnections is >= 1 and <= 65535 ? MaxConnections
            : throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "MaxConnections must be 1 to 65535."),
        ErrorRecoveryLevel = ErrorRecoveryLevel is >= 0 and <= MaxSupportedErrorRecoveryLevel ? (iser ? Math.Min(1, ErrorRecoveryLevel) : ErrorRecoveryLevel)
            : throw new ArgumentOutOfRangeException(nameof(ErrorRecoveryLevel), ErrorRecoveryLevel,
                $"ErrorRecoveryLevel must be 0 to {MaxSupportedErrorRecoveryLevel}."),
    };
}
