namespace Iser.Core.Iscsi.Pdus;

/// <summary>Reason byte of a Reject PDU (RFC 7143 §11.17.1).</summary>
public enum RejectReason : byte
{
    DataDigestError = 0x02,
    SnackReject = 0x03,
    ProtocolError = 0x04,
    CommandNotSupported = 0x05,
    ImmediateCommandReject = 0x06,
    TaskInProgress = 0x07,
    InvalidDataAck = 0x08,
    InvalidPduField = 0x09,
    LongOperationReject = 0x0a,
    /// <summary>"Negotiation Reset" in RFC 3720; deprecated by RFC 7143 and must not be sent.</summary>
    NegotiationResetDeprecated = 0x0b,
    WaitingForLogout = 0x0c,
}

public static class RejectReasonExtensions
{
    /// <summary>Whether RFC 7143 allows the rejected PDU to be sent again (true for 0x02, 0x03, 0x06, 0x0a).</summary>
    public static bool MayResend(this RejectReason reason) => reason is
        RejectReason.DataDigestError or RejectReason.SnackReject or
        RejectReason.ImmediateCommandReject or RejectReason.LongOperationReject;

    public static string Describe(this RejectReason reason) => reason switch
    {
        RejectReason.DataDigestError => "The target rejected the PDU because its data digest (CRC32C of the payload) was wrong; the PDU may be resent.",
        RejectReason.SnackReject => "The target rejected a SNACK it could not satisfy; the SNACK may be resent.",
        RejectReason.ProtocolError => "The target rejected the PDU as a protocol error (for example a SNACK for status already acknowledged).",
        RejectReason.CommandNotSupported => "The target rejected the PDU because it does not support the command.",
        RejectReason.ImmediateCommandReject => "The target rejected an immediate command because it has too many immediate commands outstanding; it may be resent.",
        RejectReason.TaskInProgress => "The target rejected the PDU because the task it refers to is still in progress.",
        RejectReason.InvalidDataAck => "The target rejected a Data ACK SNACK that acknowledged data it never sent or had already acknowledged.",
        RejectReason.InvalidPduField => "The target rejected the PDU because a header field is invalid (for example an unknown task tag or bad SNACK numbers).",
        RejectReason.LongOperationReject => "The target could not generate a Target Transfer Tag because it is out of resources; the PDU may be resent later.",
        RejectReason.NegotiationResetDeprecated => "The target sent reason 0x0b (Negotiation Reset), which RFC 7143 deprecates.",
        RejectReason.WaitingForLogout => "The target rejected the PDU because it is waiting for the initiator to log out.",
        _ => $"The target rejected the PDU with reason 0x{(byte)reason:X2}, which RFC 7143 does not define.",
    };
}
