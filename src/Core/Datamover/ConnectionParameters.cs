namespace Iser.Core.Datamover;

/// <summary>
/// Operational values in force on one connection after (or during) login, as the datamover needs them
/// (RFC 5047 Notice_Key_Values). "Receive" limits are what this side declared; "Transmit" limits are the peer's.
/// </summary>
public sealed record ConnectionParameters
{
    public bool HeaderDigest { get; init; }
    public bool DataDigest { get; init; }
    /// <summary>Largest data segment this side accepts (our MaxRecvDataSegmentLength).</summary>
    public int MaxRecvDataSegmentLength { get; init; } = 8192;
    /// <summary>Largest data segment the peer accepts (the peer's MaxRecvDataSegmentLength).</summary>
    public int MaxXmitDataSegmentLength { get; init; } = 8192;
    public int FirstBurstLength { get; init; } = 65536;
    public int MaxBurstLength { get; init; } = 262144;
    public bool InitialR2T { get; init; } = true;
    public bool ImmediateData { get; init; } = true;
    public int MaxOutstandingR2T { get; init; } = 1;
    public bool DataPduInOrder { get; init; } = true;
    public bool DataSequenceInOrder { get; init; } = true;
    public int ErrorRecoveryLevel { get; init; }
    /// <summary>RFC 7145: RDMAExtensions=Yes puts the connection in iSER mode at full feature phase.</summary>
    public bool RdmaExtensions { get; init; }
    public int InitiatorRecvDataSegmentLength { get; init; } = 8192;
    public int TargetRecvDataSegmentLength { get; init; } = 8192;
    public int MaxOutstandingUnexpectedPdus { get; init; }
}
