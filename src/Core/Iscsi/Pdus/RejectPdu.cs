namespace Iser.Core.Iscsi.Pdus;

/// <summary>Builds the Reject PDU (RFC 7143 §11.17): reason in byte 2, ITT reserved, the rejected header as data.</summary>
public static class RejectPdu
{
    /// <summary>A pooled Reject for <paramref name="offending"/>; sequence numbers are stamped when it is sent.</summary>
    public static Pdu Rent(RejectReason reason, Pdu offending)
    {
        var reject = PduPool.Rent();
        reject.Opcode = IscsiOpcode.Reject;
        reject.Flags = 0x80;
        reject.Bhs[2] = (byte)reason;
        reject.InitiatorTaskTag = Pdu.ReservedTag;
        reject.SetData(offending.Bhs); // the complete header of the rejected PDU
        return reject;
    }
}
