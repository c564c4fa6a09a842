namespace Iser.Transport.Iser.Protocol;

/// <summary>The 4-bit opcode in the high nibble of the iSER header's first byte (RFC 7145 §9.2).</summary>
public enum IserOpcode : byte
{
    /// <summary>0x1: the message carries an iSCSI control-type PDU.</summary>
    IscsiControl = 0x1,
    /// <summary>0x2: iSER Hello (iWARP only: iSER-IRD and versions).</summary>
    Hello = 0x2,
    /// <summary>0x3: iSER HelloReply (iWARP only: iSER-ORD, the current version, reject flag).</summary>
    HelloReply = 0x3,
}
