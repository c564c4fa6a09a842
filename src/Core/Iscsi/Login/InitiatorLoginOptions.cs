using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// What an initiator asks for in a login. Every negotiable key can be set; null means "offer the RFC default"
/// (digests: None; on iSER the RFC 7145 keys are offered as well).
/// </summary>
public sealed class InitiatorLoginOptions
{
    public required string InitiatorName { get; init; }
    public string? InitiatorAlias { get; init; }
    /// <summary>The target to log in to; null means a discovery session.</summary>
    public string? TargetName { get; init; }
    /// <summary>Normal unless <see cref="TargetName"/> is null (then Discovery), unless set explicitly.</summary>
    public IscsiSessionType? SessionType { get; init; }
    /// <summary>Low 48 bits: the ISID (RFC 7143 §11.12.5).</summary>
    public ulong Isid { get; init; } = 0x00023d000001; // type 00 (OUI format) is the common default
    public ushort Tsih { get; init; }
    public ushort Cid { get; init; }
    /// <summary>Initial CmdSN placed in login requests.</summary>
    public uint CmdSN { get; init; }

    /// <summary>Prove this identity to the target with CHAP (one-way).</summary>
    public ChapCredentials? Chap { get; init; }
    /// <summary>Require the target to prove this identity (mutual CHAP; needs <see cref="Chap"/>).</summary>
    public ChapCredentials? MutualChap { get; init; }
    /// <summary>CHAP algorithms to offer, preferred first (null: MD5 alone).</summary>
    public IReadOnlyList<ChapAlgorithm>? ChapAlgorithms { get; init; }

    /// <summary>The connection is iSER: offer RDMAExtensions=Yes and the RFC 7145 keys; fail if the target refuses.</summary>
    public bool Iser { get; init; }

    public string? HeaderDigest { get; init; }
    public string? DataDigest { get; init; }
    public int? MaxRecvDataSegmentLength { get; init; }
    public int? MaxBurstLength { get; init; }
    public int? FirstBurstLength { get; init; }
    public int? MaxConnections { get; init; }
    public bool? InitialR2T { get; init; }
    public bool? ImmediateData { get; init; }
    public int? MaxOutstandingR2T { get; init; }
    public bool? DataPduInOrder { get; init; }
    public bool? DataSequenceInOrder { get; init; }
    public int? DefaultTime2Wait { get; init; }
    public int? DefaultTime2Retain { get; init; }
    public int? ErrorRecoveryLevel { get; init; }
    public int? InitiatorRecvDataSegmentLength { get; init; }
    public int? TargetRecvDataSegmentLength { get; init; }
    public int? MaxOutstandingUnexpectedPdus { get; init; }
    /// <summary>Largest data segment sent in one login request (the target's limit before it declares one).</summary>
    public int LoginMaxSegmentLength { get; init; } = 8192;
    /// <summary>Extra keys to send in the operational stage (e.g. X- vendor keys), offered as given.</summary>
    public IReadOnlyList<TextKeyValue> ExtraKeys { get; init; } = Array.Empty<TextKeyValue>();

    internal IscsiSessionType EffectiveSessionType => SessionType ?? (TargetName is null ? IscsiSessionType.Discovery : IscsiSessionType.Normal);

    /// <summary>This initiator's value for a key: the option, else the RFC default (digests: None).</summary>
    internal string? ValueOf(string key) => key switch
    {
        KeyNames.HeaderDigest => HeaderDigest ?? NegotiationValues.None,
        KeyNames.DataDigest => DataDigest ?? NegotiationValues.None,
        KeyNames.MaxRecvDataSegmentLength => OperationalLimits.Num(MaxRecvDataSegmentLength ?? 8192),
        KeyNames.MaxBurstLength => OperationalLimits.Num(MaxBurstLength ?? 262144),
        KeyNames.FirstBurstLength => OperationalLimits.Num(FirstBurstLength ?? 65536),
        KeyNames.MaxConnections => OperationalLimits.Num(MaxConnections ?? 1),
        KeyNames.InitialR2T => OperationalLimits.Bool(InitialR2T ?? true),
        KeyNames.ImmediateData => OperationalLimits.Bool(ImmediateData ?? true),
        KeyNames.MaxOutstandingR2T => OperationalLimits.Num(MaxOutstandingR2T ?? 1),
        KeyNames.DataPduInOrder => OperationalLimits.Bool(DataPduInOrder ?? true),
        KeyNames.DataSequenceInOrder => OperationalLimits.Bool(DataSequenceInOrder ?? true),
        KeyNames.DefaultTime2Wait => OperationalLimits.Num(DefaultTime2Wait ?? 2),
        KeyNames.DefaultTime2Retain => OperationalLimits.Num(DefaultTime2Retain ?? 20),
        KeyNames.ErrorRecoveryLevel => OperationalLimits.Num(ErrorRecoveryLevel ?? 0),
        KeyNames.RdmaExtensions => OperationalLimits.Bool(Iser),
        KeyNames.InitiatorRecvDataSegmentLength => OperationalLimits.Num(InitiatorRecvDataSegmentLength ?? 8192),
        KeyNames.TargetRecvDataSegmentLength => OperationalLimits.Num(TargetRecvDataSegmentLength ?? 8192),
        KeyNames.MaxOutstandingUnexpectedPdus => OperationalLimits.Num(MaxOutstandingUnexpectedPdus ?? 0),
        KeyNames.TaskReporting => "RFC3720",
        KeyNames.IscsiProtocolLevel => "1",
        _ => null,
    };
}
