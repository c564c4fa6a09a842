using System.Buffers.Binary;

namespace Iser.Tests.ScsiTarget;

/// <summary>CDB byte layouts from SBC-3/SPC-4, built independently of the code under test.</summary>
internal static class Cdbs
{
    public static byte[] Read10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x28, lba, blocks, flags);
    public static byte[] Write10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x2A, lba, blocks, flags);
    public static byte[] Verify10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x2F, lba, blocks, flags);
    public static byte[] WriteAndVerify10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x2E, lba, blocks, flags);
    public static byte[] Read12(uint lba, uint blocks, byte flags = 0) => Rw12(0xA8, lba, blocks, flags);
    public static byte[] Write12(uint lba, uint blocks, byte flags = 0) => Rw12(0xAA, lba, blocks, flags);
    public static byte[] Verify12(uint lba, uint blocks, byte flags = 0) => Rw12(0xAF, lba, blocks, flags);
    public static byte[] WriteAndVerify12(uint lba, uint blocks, byte flags = 0) => Rw12(0xAE, lba, blocks, flags);
    public static byte[] Read16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x88, lba, blocks, flags);
    public static byte[] Write16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x8A, lba, blocks, flags);
    public static byte[] Verify16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x8F, lba, blocks, flags);
    public static byte[] WriteAndVerify16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x8E, lba, blocks, flags);
    public static byte[] WriteSame10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x41, lba, blocks, flags);
    public static byte[] WriteSame16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x93, lba, blocks, flags);
    public static byte[] SynchronizeCache10(uint lba = 0, ushort blocks = 0) => Rw10(0x35, lba, blocks, 0);
    public static byte[] SynchronizeCache16(ulong lba = 0, uint blocks = 0) => Rw16(0x91, lba, blocks, 0);

    /// <summary>READ(6)/WRITE(6): 21-bit LBA in bytes 1-3, TRANSFER LENGTH in byte 4 (0 = 256 blocks).</summary>
    public static byte[] Read6(uint lba, byte blocks) => Rw6(0x08, lba, blocks);
    public static byte[] Write6(uint lba, byte blocks) => Rw6(0x0A, lba, blocks);
    public static byte[] PreFetch10(uint lba, ushort blocks, bool immed = false) => Rw10(0x34, lba, blocks, (byte)(immed ? 0x02 : 0));
    public static byte[] PreFetch16(ulong lba, uint blocks, bool immed = false) => Rw16(0x90, lba, blocks, (byte)(immed ? 0x02 : 0));
    public static byte[] OrWrite16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x8B, lba, blocks, flags);

    /// <summary>WRITE ATOMIC(16): LBA bytes 2-9, ATOMIC BOUNDARY bytes 10-11, TRANSFER LENGTH bytes 12-13.</summary>
    public static byte[] WriteAtomic16(ulong lba, ushort blocks, ushort boundary = 0, byte flags = 0)
    {
        var c = new byte[16];
        c[0] = 0x9C;
        c[1] = flags;
        BinaryPrimitives.WriteUInt64BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(10), boundary);
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(12), blocks);
        return c;
    }

    /// <summary>READ DEFECT DATA(10): REQ_PLIST/REQ_GLIST/format in byte 2, allocation length bytes 7-8.</summary>
    public static byte[] ReadDefectData10(byte listFlags, ushort allocation)
    {
        var c = new byte[10];
        c[0] = 0x37;
        c[2] = listFlags;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), allocation);
        return c;
    }

    /// <summary>READ DEFECT DATA(12): REQ_PLIST/REQ_GLIST/format in byte 1, allocation length bytes 6-9.</summary>
    public static byte[] ReadDefectData12(byte listFlags, uint allocation)
    {
        var c = new byte[12];
        c[0] = 0xB7;
        c[1] = listFlags;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), allocation);
        return c;
    }

    /// <summary>GET LBA STATUS: SERVICE ACTION IN(16) service action 12h, STARTING LBA bytes 2-9, allocation bytes 10-13.</summary>
    public static byte[] GetLbaStatus(ulong lba, uint allocation)
    {
        var c = new byte[16];
        c[0] = 0x9E;
        c[1] = 0x12;
        BinaryPrimitives.WriteUInt64BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), allocation);
        return c;
    }

    public static byte[] CompareAndWrite(ulong lba, byte blocks, byte flags = 0)
    {
        var c = new byte[16];
        c[0] = 0x89;
        c[1] = flags;
        BinaryPrimitives.WriteUInt64BigEndian(c.AsSpan(2), lba);
        c[13] = blocks;
        return c;
    }

    public static byte[] Unmap(ushort parameterListLength, byte flags = 0)
    {
        var c = new byte[10];
        c[0] = 0x42;
        c[1] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), parameterListLength);
        return c;
    }

    public static byte[] UnmapList(params (ulong Lba, uint Blocks)[] descriptors)
    {
        var list = new byte[8 + 16 * descriptors.Length];
        BinaryPrimitives.WriteUInt16BigEndian(list, (ushort)(list.Length - 2));
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), (ushort)(16 * descriptors.Length));
        for (int i = 0; i < descriptors.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8 + 16 * i), descriptors[i].Lba);
            BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(16 + 16 * i), descriptors[i].Blocks);
        }
        return list;
    }

    public static byte[] Inquiry(bool evpd, byte page, ushort allocation)
    {
        var c = new byte[6];
        c[0] = 0x12;
        c[1] = (byte)(evpd ? 1 : 0);
        c[2] = page;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(3), allocation);
        return c;
    }

    public static byte[] TestUnitReady() => new byte[6];
    public static byte[] RequestSense(byte allocation = 252) => [0x03, 0, 0, 0, allocation, 0];
    public static byte[] StartStopUnit(bool start) => [0x1B, 0, 0, 0, (byte)(start ? 1 : 0), 0];
    public static byte[] PreventAllow(bool prevent) => [0x1E, 0, 0, 0, (byte)(prevent ? 1 : 0), 0];

    public static byte[] ReadCapacity10() => [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    public static byte[] ReadCapacity16(uint allocation = 32)
    {
        var c = new byte[16];
        c[0] = 0x9E;
        c[1] = 0x10;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), allocation);
        return c;
    }

    public static byte[] ReportLuns(uint allocation = 4096, byte select = 0)
    {
        var c = new byte[12];
        c[0] = 0xA0;
        c[2] = select;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), allocation);
        return c;
    }

    public static byte[] ReportSupportedOpcodes(byte options, byte opcode = 0, ushort serviceAction = 0, bool timeouts = false, uint allocation = 65535)
    {
        var c = new byte[12];
        c[0] = 0xA3;
        c[1] = 0x0C;
        c[2] = (byte)(options | (timeouts ? 0x80 : 0));
        c[3] = opcode;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(4), serviceAction);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), allocation);
        return c;
    }

    public static byte[] ModeSense6(byte page, byte pageControl = 0, bool dbd = false, byte allocation = 255, byte subpage = 0) =>
        [0x1A, (byte)(dbd ? 0x08 : 0), (byte)((pageControl << 6) | page), subpage, allocation, 0];

    public static byte[] ModeSense10(byte page, byte pageControl = 0, bool dbd = false, bool llbaa = false, ushort allocation = 1024)
    {
        var c = new byte[10];
        c[0] = 0x5A;
        c[1] = (byte)((dbd ? 0x08 : 0) | (llbaa ? 0x10 : 0));
        c[2] = (byte)((pageControl << 6) | page);
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), allocation);
        return c;
    }

    public static byte[] ModeSelect6(byte listLength, bool pf = true, bool sp = false) =>
        [0x15, (byte)((pf ? 0x10 : 0) | (sp ? 1 : 0)), 0, 0, listLength, 0];

    private static byte[] Rw6(byte op, uint lba, byte blocks) =>
        [op, (byte)((lba >> 16) & 0x1F), (byte)(lba >> 8), (byte)lba, blocks, 0];

    private static byte[] Rw10(byte op, uint lba, ushort blocks, byte flags)
    {
        var c = new byte[10];
        c[0] = op;
        c[1] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), blocks);
        return c;
    }

    private static byte[] Rw12(byte op, uint lba, uint blocks, byte flags)
    {
        var c = new byte[12];
        c[0] = op;
        c[1] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), blocks);
        return c;
    }

    private static byte[] Rw16(byte op, ulong lba, uint blocks, byte flags)
    {
        var c = new byte[16];
        c[0] = op;
        c[1] = flags;
        BinaryPrimitives.WriteUInt64BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), blocks);
        return c;
    }
}
