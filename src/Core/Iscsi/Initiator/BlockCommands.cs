using System.Buffers.Binary;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// The few SBC-3/SPC-4 CDBs <see cref="IscsiLun"/> needs, written into caller-provided spans (no allocation).
/// Kept minimal here; the SCSI layer's CDB builders cover the rest.
/// </summary>
internal static class BlockCommands
{
    public const byte Inquiry = 0x12;
    public const byte ReadCapacity10 = 0x25;
    public const byte Read10 = 0x28;
    public const byte Write10 = 0x2a;
    public const byte SynchronizeCache10 = 0x35;
    public const byte Unmap = 0x42;
    public const byte Read16 = 0x88;
    public const byte Write16 = 0x8a;
    public const byte ServiceActionIn16 = 0x9e;
    public const byte ReadCapacity16ServiceAction = 0x10;
    public const byte TestUnitReady = 0x00;

    /// <summary>READ/WRITE (10) when LBA and length fit, else (16). Returns the CDB length.</summary>
    public static int ReadWrite(Span<byte> cdb, bool write, long lba, int blocks)
    {
        cdb.Clear();
        if (lba + blocks <= uint.MaxValue && blocks <= ushort.MaxValue)
        {
            cdb[0] = write ? Write10 : Read10;
            BinaryPrimitives.WriteUInt32BigEndian(cdb[2..], (uint)lba);
            BinaryPrimitives.WriteUInt16BigEndian(cdb[7..], (ushort)blocks);
            return 10;
        }
        cdb[0] = write ? Write16 : Read16;
        BinaryPrimitives.WriteUInt64BigEndian(cdb[2..], (ulong)lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb[10..], (uint)blocks);
        return 16;
    }

    public static int InquiryCdb(Span<byte> cdb, int allocationLength)
    {
        cdb.Clear();
        cdb[0] = Inquiry;
        BinaryPrimitives.WriteUInt16BigEndian(cdb[3..], (ushort)allocationLength);
        return 6;
    }

    public static int ReadCapacity16Cdb(Span<byte> cdb, int allocationLength)
    {
        cdb.Clear();
        cdb[0] = ServiceActionIn16;
        cdb[1] = ReadCapacity16ServiceAction;
        BinaryPrimitives.WriteUInt32BigEndian(cdb[10..], (uint)allocationLength);
        return 16;
    }

    public static int ReadCapacity10Cdb(Span<byte> cdb)
    {
        cdb.Clear();
        cdb[0] = ReadCapacity10;
        return 10;
    }

    public static int SynchronizeCacheCdb(Span<byte> cdb)
    {
        cdb.Clear();
        cdb[0] = SynchronizeCache10; // LBA 0, 0 blocks: the whole medium
        return 10;
    }

    /// <summary>UNMAP CDB plus its parameter list with one block descriptor (SBC-3 §5.28).</summary>
    public static int UnmapCdb(Span<byte> cdb, Span<byte> parameters, long lba, uint blocks)
    {
        cdb.Clear();
        cdb[0] = Unmap;
        BinaryPrimitives.WriteUInt16BigEndian(cdb[7..], 24);
        parameters.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(parameters, 22);      // UNMAP data length (bytes after this field)
        BinaryPrimitives.WriteUInt16BigEndian(parameters[2..], 16); // block descriptor data length
        BinaryPrimitives.WriteUInt64BigEndian(parameters[8..], (ulong)lba);
        BinaryPrimitives.WriteUInt32BigEndian(parameters[16..], blocks);
        return 10;
    }
}
