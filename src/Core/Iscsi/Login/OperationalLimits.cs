using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// The operational values one side offers or accepts (RFC 7143 §13), RFC defaults unless set. For minimum keys the value
/// is this side's ceiling, for maximum keys its floor; booleans are this side's preference (an OR key with Yes forces
/// Yes, an AND key with No forces No); digests are the accepted list in order of preference.
/// </summary>
public sealed class OperationalLimits
{
    public int MaxRecvDataSegmentLength { get; init; } = 8192;
    public int MaxBurstLength { get; init; } = 262144;
    public int FirstBurstLength { get; init; } = 65536;
    public int MaxConnections { get; init; } = 1;
    public bool InitialR2T { get; init; } = true;
    public bool ImmediateData { get; init; } = true;
    public int MaxOutstandingR2T { get; init; } = 1;
    public bool DataPduInOrder { get; init; } = true;
    public bool DataSequenceInOrder { get; init; } = true;
    public int DefaultTime2Wait { get; init; } = 2;
    public int DefaultTime2Retain { get; init; } = 20;
    public int ErrorRecoveryLevel { get; init; }
    /// <summary>Accepted header digests, e.g. "CRC32C,None" or "None".</summary>
    public string HeaderDigest { get; init; } = "None";
    public string DataDigest { get; init; } = "None";
    public string TaskReporting { get; init; } = "RFC3720";
    public int IscsiProtocolLevel { get; init; } = 1;
    /// <summary>RFC 7145: largest control-PDU data segment the target receives on iSER.</summary>
    public int TargetRecvDataSegmentLength { get; init; } = 8192;
    /// <summary>RFC 7145: largest control-PDU data segment this side lets the initiator receive on iSER.</summary>
    public int InitiatorRecvDataSegmentLength { get; init; } = 8192;
    /// <summary>RFC 7145: 0 means no limit.</summary>
    public int MaxOutstandingUnexpectedPdus { get; init; }

    /// <summary>This side's value for <paramref name="key"/> in text form, or null for keys it has no say in.</summary>
    public string? ValueOf(string key) => key switch
    {
        KeyNames.MaxRecvDataSegmentLength => Num(MaxRecvDataSegmentLength),
        KeyNames.MaxBurstLength => Num(MaxBurstLength),
        KeyNames.FirstBurstLength => Num(FirstBurstLength),
        KeyNames.MaxConnections => Num(MaxConnections),
        KeyNames.InitialR2T => Bool(InitialR2T),
        KeyNames.ImmediateData => Bool(ImmediateData),
        KeyNames.MaxOutstandingR2T => Num(MaxOutstandingR2T),
        KeyNames.DataPduInOrder => Bool(DataPduInOrder),
        KeyNames.DataSequenceInOrder => Bool(DataSequenceInOrder),
        KeyNames.DefaultTime2Wait => Num(DefaultTime2Wait),
        KeyNames.DefaultTime2Retain => Num(DefaultTime2Retain),
        KeyNames.ErrorRecoveryLevel => Num(ErrorRecoveryLevel),
        KeyNames.HeaderDigest => HeaderDigest,
        KeyNames.DataDigest => DataDigest,
        KeyNames.TaskReporting => TaskReporting,
        KeyNames.IscsiProtocolLevel => Num(IscsiProtocolLevel),
        KeyNames.TargetRecvDataSegmentLength => Num(TargetRecvDataSegmentLength),
        KeyNames.InitiatorRecvDataSegmentLength => Num(InitiatorRecvDataSegmentLength),
        KeyNames.MaxOutstandingUnexpectedPdus => Num(MaxOutstandingUnexpectedPdus),
        _ => null,
    };

    internal static string Num(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    internal static string Bool(bool value) => value ? NegotiationValues.Yes : NegotiationValues.No;
}
