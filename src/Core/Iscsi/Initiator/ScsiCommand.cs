namespace Iser.Core.Iscsi.Initiator;

/// <summary>SAM task attributes as the SCSI Command PDU encodes them (RFC 7143 §11.3.1).</summary>
public enum ScsiTaskAttribute : byte
{
    Untagged = 0,
    Simple = 1,
    Ordered = 2,
    HeadOfQueue = 3,
    Aca = 4,
}

/// <summary>
/// One raw SCSI command: a CDB of up to 16 bytes, the LUN, and at most one data buffer. The read buffer's length is
/// the Expected Data Transfer Length of a read; the write buffer's length that of a write. The buffers must stay
/// untouched until the command completes.
/// </summary>
public readonly record struct ScsiCommand(int Lun, ReadOnlyMemory<byte> Cdb)
{
    public Memory<byte> DataIn { get; init; }
    public ReadOnlyMemory<byte> DataOut { get; init; }
    public ScsiTaskAttribute Attribute { get; init; } = ScsiTaskAttribute.Simple;

    public static ScsiCommand Read(int lun, ReadOnlyMemory<byte> cdb, Memory<byte> dataIn) => new(lun, cdb) { DataIn = dataIn };
    public static ScsiCommand Write(int lun, ReadOnlyMemory<byte> cdb, ReadOnlyMemory<byte> dataOut) => new(lun, cdb) { DataOut = dataOut };
}
