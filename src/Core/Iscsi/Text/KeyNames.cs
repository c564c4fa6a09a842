namespace Iser.Core.Iscsi.Text;

/// <summary>The spelling of every key this library knows (RFC 7143 §13, §12.1; RFC 7145 §6).</summary>
public static class KeyNames
{
    public const string HeaderDigest = "HeaderDigest";
    public const string DataDigest = "DataDigest";
    public const string MaxConnections = "MaxConnections";
    public const string SendTargets = "SendTargets";
    public const string TargetName = "TargetName";
    public const string InitiatorName = "InitiatorName";
    public const string TargetAlias = "TargetAlias";
    public const string InitiatorAlias = "InitiatorAlias";
    public const string TargetAddress = "TargetAddress";
    public const string TargetPortalGroupTag = "TargetPortalGroupTag";
    public const string InitialR2T = "InitialR2T";
    public const string ImmediateData = "ImmediateData";
    public const string MaxRecvDataSegmentLength = "MaxRecvDataSegmentLength";
    public const string MaxBurstLength = "MaxBurstLength";
    public const string FirstBurstLength = "FirstBurstLength";
    public const string DefaultTime2Wait = "DefaultTime2Wait";
    public const string DefaultTime2Retain = "DefaultTime2Retain";
    public const string MaxOutstandingR2T = "MaxOutstandingR2T";
    public const string DataPduInOrder = "DataPDUInOrder";
    public const string DataSequenceInOrder = "DataSequenceInOrder";
    public const string ErrorRecoveryLevel = "ErrorRecoveryLevel";
    public const string SessionType = "SessionType";
    public const string AuthMethod = "AuthMethod";
    public const string ChapAlgorithm = "CHAP_A";
    public const string ChapIdentifier = "CHAP_I";
    public const string ChapChallenge = "CHAP_C";
    public const string ChapName = "CHAP_N";
    public const string ChapResponse = "CHAP_R";
    public const string TaskReporting = "TaskReporting";
    public const string IscsiProtocolLevel = "iSCSIProtocolLevel";
    public const string RdmaExtensions = "RDMAExtensions";
    public const string TargetRecvDataSegmentLength = "TargetRecvDataSegmentLength";
    public const string InitiatorRecvDataSegmentLength = "InitiatorRecvDataSegmentLength";
    public const string MaxOutstandingUnexpectedPdus = "MaxOutstandingUnexpectedPDUs";
    public const string OFMarker = "OFMarker";
    public const string IFMarker = "IFMarker";
    public const string OFMarkInt = "OFMarkInt";
    public const string IFMarkInt = "IFMarkInt";
}
