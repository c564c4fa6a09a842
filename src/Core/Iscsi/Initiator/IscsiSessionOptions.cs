using Iser.Core.Iscsi.Login;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// What an <see cref="IscsiSession"/> logs in with and how it watches its connection. Every negotiable key can be
/// set; null offers the RFC default.
/// </summary>
public sealed class IscsiSessionOptions
{
    public const string DefaultInitiatorName = "iqn.2026-11.org.iser:initiator";

    public string InitiatorName { get; set; } = DefaultInitiatorName;
    public string? InitiatorAlias { get; set; }
    /// <summary>The target to log in to; null opens a discovery session.</summary>
    public string? TargetName { get; set; }
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = IscsiUrl.DefaultPort;

    /// <summary>Prove the initiator's identity with CHAP.</summary>
    public ChapCredentials? Chap { get; set; }
    /// <summary>Require the target to prove its identity (mutual CHAP; needs <see cref="Chap"/>).</summary>
    public ChapCredentials? MutualChap { get; set; }
    /// <summary>
    /// CHAP algorithms to offer, preferred first; the target takes the first it accepts. Null offers MD5 alone, as
    /// open-iscsi does by default: tgt (1.0.85, Debian 12) answers CHAP_A=7 but computes SHA-1 for it, so offering SHA-256
    /// breaks logins to tgt. Offer <see cref="ChapAlgorithm.Sha256"/> (and MD5 after it, for older targets) to a target
    /// that implements it, such as Linux LIO or ours.
    /// </summary>
    public IReadOnlyList<ChapAlgorithm>? ChapAlgorithms { get; set; }

    // Negotiable keys (RFC 7143 §13; null = RFC default).
    public string? HeaderDigest { get; set; }
    public string? DataDigest { get; set; }
    public int? MaxRecvDataSegmentLength { get; set; } = 256 * 1024;
    public int? MaxBurstLength { get; set; } = 1024 * 1024;
    public int? FirstBurstLength { get; set; }
    public bool? InitialR2T { get; set; } = false;
    public bool? ImmediateData { get; set; }
    public int? MaxOutstandingR2T { get; set; } = 8;
    public bool? DataPduInOrder { get; set; }
    public bool? DataSequenceInOrder { get; set; }
    public int? DefaultTime2Wait { get; set; }
    public int? DefaultTime2Retain { get; set; }
    /// <summary>
    /// The highest ErrorRecoveryLevel offered (default 0). At 1 a lost or corrupt Data-In, a lost status and a command
    /// whose status never comes are recovered within the connection (SNACK, command retry) instead of failing; at 2 a
    /// failed connection is replaced inside the session and its commands reassigned (TASK REASSIGN), none re-executed.
    /// </summary>
    public int? ErrorRecoveryLevel { get; set; }
    /// <summary>The highest level this initiator implements.</summary>
    public const int MaxSupportedErrorRecoveryLevel = 2;
    /// <summary>
    /// Connections the session may have (MaxConnections offered, default 1). Above 1 and where the target agrees, the
    /// session opens that many connections to the portal (MC/S) and spreads its commands over them; at
    /// ErrorRecoveryLevel 2 the commands of one that fails are reassigned to the others.
    /// </summary>
    public int MaxConnections { get; set; } = 1;
    /// <summary>The most connections a session opens.</summary>
    public const int MaxSupportedConnections = 64;
    public int? InitiatorRecvDataSegmentLength { get; set; }
    public int? TargetRecvDataSegmentLength { get; set; }
    public int? MaxOutstandingUnexpectedPdus { get; set; }

    /// <summary>Idle time after which a NOP-Out keeps the connection alive (and checks it); zero turns it off.</summary>
    public TimeSpan NopInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// How long a keep-alive NOP-Out may go unanswered before the connection counts as dead. Non-zero makes the
    /// keep-alive ask for a reply (valid ITT); zero sends the one-way form (ITT = TTT = 0xffffffff) and never times out.
    /// </summary>
    public TimeSpan NopTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>A command not answered within this time is aborted (ABORT TASK) and fails; null waits forever.</summary>
    public TimeSpan? CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Time allowed for TCP connect plus login.</summary>
    public TimeSpan LoginTimeout { get; set; } = TimeSpan.FromSeconds(15);
    /// <summary>Time allowed for a task management or logout exchange.</summary>
    public TimeSpan ManagementTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public ReconnectOptions Reconnect { get; set; } = new();
    /// <summary>
    /// ErrorRecoveryLevel 1: a command unanswered this long is sent again as a retry (same ITT and CmdSN), which the
    /// target answers by resending its status, asking again for write data it lacks, or running it if it never arrived
    /// (up to three retries; <see cref="CommandTimeout"/> still ends it). Lost read data and status are asked for at
    /// once by SNACK and do not wait for this.
    /// </summary>
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Where completions run: thread pool (default), inline on the completion thread, busy-polling.</summary>
    public CompletionOptions Completions { get; set; } = new();

    /// <summary>host:port as the logs print it (an IPv6 host in brackets).</summary>
    internal string Portal => $"{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port}";
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Options for the target and portal of <paramref name="url"/> (credentials included).</summary>
    public static IscsiSessionOptions FromUrl(IscsiUrl url)
    {
        var options = new IscsiSessionOptions { Host = url.Host, Port = url.Port, TargetName = url.TargetName };
        if (url.UserName is not null) options.Chap = new ChapCredentials(url.UserName, url.Password ?? "");
        return options;
    }

    internal IscsiSessionOptions Clone()
    {
        var clone = (IscsiSessionOptions)MemberwiseClone();
        clone.Completions = Completions.Clone(); // a caller changing its object later does not reach a live session
        return clone;
    }

    internal InitiatorLoginOptions ToLoginOptions(ulong isid, uint cmdSN, bool iser, ushort tsih = 0, ushort cid = 0) => new()
    {
        Tsih = tsih,
        Cid = cid,
        MaxConnections = MaxConnections,
        InitiatorName = InitiatorName,
        InitiatorAlias = InitiatorAlias,
        TargetName = TargetName,
        Isid = isid,
        CmdSN = cmdSN,
        Chap = Chap,
        MutualChap = MutualChap,
        ChapAlgorithms = ChapAlgorithms,
        Iser = iser,
        HeaderDigest = HeaderDigest,
        DataDigest = DataDigest,
        MaxRecvDataSegmentLength = MaxRecvDataSegmentLength,
        MaxBurstLength = MaxBurstLength,
        FirstBurstLength = FirstBurstLength,
        InitialR2T = InitialR2T,
        ImmediateData = ImmediateData,
        MaxOutstandingR2T = MaxOutstandingR2T,
        DataPduInOrder = DataPduInOrder,
        DataSequenceInOrder = DataSequenceInOrder,
        DefaultTime2Wait = DefaultTime2Wait,
        DefaultTime2Retain = DefaultTime2Retain,
        // Over iSER recovery stops at level 1: RDMA placement is never resent, and its commands cannot be taken over.
        ErrorRecoveryLevel = iser && ErrorRecoveryLevel > 1 ? 1 : ErrorRecoveryLevel,
        InitiatorRecvDataSegmentLength = InitiatorRecvDataSegmentLength,
        TargetRecvDataSegmentLength = TargetRecvDataSegmentLength,
        MaxOutstandingUnexpectedPdus = MaxOutstandingUnexpectedPdus,
    };
}

/// <summary>Session recovery after a broken connection (ErrorRecoveryLevel 0: log in again, re-issue what was not answered).</summary>
public sealed class ReconnectOptions
{
    public bool Enabled { get; set; } = true;
    /// <summary>Like open-iscsi's replacement_timeout: how long commands wait for a new connection before they fail.</summary>
    public TimeSpan ReplacementTimeout { get; set; } = TimeSpan.FromSeconds(120);
    /// <summary>First pause between login attempts; it doubles up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan InitialRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(2);
}
