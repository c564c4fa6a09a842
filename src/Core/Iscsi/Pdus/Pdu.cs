using System.Buffers;
using System.Buffers.Binary;

namespace Iser.Core.Iscsi.Pdus;

/// <summary>
/// One iSCSI PDU: the 48-byte Basic Header Segment, optional AHS, and a data segment held in a pooled buffer.
/// Field accessors are by RFC 7143 offset; opcode-specific names live in <see cref="PduFields"/> helpers
/// so this type stays a plain container that both transports can fill without knowing SCSI.
/// </summary>
public sealed class Pdu : IDisposable
{
    public const int BhsLength = 48;
    public const uint ReservedTag = 0xffffffff;

    /// <summary>The BHS, big-endian as on the wire.</summary>
    public readonly byte[] Bhs = new byte[BhsLength];

    /// <summary>Additional header segments (without padding), or empty.</summary>
    public ReadOnlyMemory<byte> Ahs { get; set; }

    /// <summary>iSER only: remote buffers advertised with a SCSI Command (see RFC 7145 §9.2.1).</summary>
    public RdmaBufferAdvertisement Rdma;

    private IMemoryOwner<byte>? _dataOwner;

    /// <summary>The data segment (unpadded). Owned by this PDU when set through <see cref="SetData(IMemoryOwner{byte}, int)"/>.</summary>
    public Memory<byte> Data { get; private set; }

    public IscsiOpcode Opcode
    {
        get => (IscsiOpcode)(Bhs[0] & 0x3f);
        set => Bhs[0] = (byte)((Bhs[0] & 0x40) | ((byte)value & 0x3f));
    }

    /// <summary>The I bit (immediate delivery), initiator PDUs only.</summary>
    public bool Immediate
    {
        get => (Bhs[0] & 0x40) != 0;
        set => Bhs[0] = (byte)(value ? Bhs[0] | 0x40 : Bhs[0] & ~0x40);
    }

    /// <summary>Byte 1: the F bit and opcode-specific flags.</summary>
    public byte Flags { get => Bhs[1]; set => Bhs[1] = value; }

    public bool Final
    {
        get => (Bhs[1] & 0x80) != 0;
        set => Bhs[1] = (byte)(value ? Bhs[1] | 0x80 : Bhs[1] & ~0x80);
    }

    /// <summary>TotalAHSLength in bytes (the wire field counts 4-byte words).</summary>
    public int TotalAhsLength => Bhs[4] * 4;

    /// <summary>DataSegmentLength as written in the BHS (24 bits).</summary>
    public int DataSegmentLength
    {
        get => (Bhs[5] << 16) | (Bhs[6] << 8) | Bhs[7];
        set
        {
            if ((uint)value > 0xffffff) throw new ArgumentOutOfRangeException(nameof(value), "DataSegmentLength is a 24-bit field.");
            Bhs[5] = (byte)(value >> 16); Bhs[6] = (byte)(value >> 8); Bhs[7] = (byte)value;
        }
    }

    /// <summary>Bytes 8-15: LUN, or opcode-specific (ISID+TSIH in login).</summary>
    public ulong Lun
    {
        get => BinaryPrimitives.ReadUInt64BigEndian(Bhs.AsSpan(8));
        set => BinaryPrimitives.WriteUInt64BigEndian(Bhs.AsSpan(8), value);
    }

    public uint InitiatorTaskTag { get => U32(16); set => SetU32(16, value); }

    /// <summary>Bytes 20-23: Target Transfer Tag, Expected Data Transfer Length, SNACK tag... by opcode.</summary>
    public uint Field20 { get => U32(20); set => SetU32(20, value); }
    /// <summary>Bytes 24-27: CmdSN (initiator PDUs) or StatSN (target PDUs).</summary>
    public uint Field24 { get => U32(24); set => SetU32(24, value); }
    /// <summary>Bytes 28-31: ExpStatSN (initiator PDUs) or ExpCmdSN (target PDUs).</summary>
    public uint Field28 { get => U32(28); set => SetU32(28, value); }
    /// <summary>Bytes 32-35: MaxCmdSN (target PDUs) or opcode-specific.</summary>
    public uint Field32 { get => U32(32); set => SetU32(32, value); }
    public uint Field36 { get => U32(36); set => SetU32(36, value); }
    public uint Field40 { get => U32(40); set => SetU32(40, value); }
    public uint Field44 { get => U32(44); set => SetU32(44, value); }

    public uint U32(int offset) => BinaryPrimitives.ReadUInt32BigEndian(Bhs.AsSpan(offset));
    public void SetU32(int offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(Bhs.AsSpan(offset), value);

    /// <summary>Hands ownership of a pooled buffer to this PDU; <paramref name="length"/> bytes of it are the data segment.</summary>
    public void SetData(IMemoryOwner<byte> owner, int length)
    {
        _dataOwner?.Dispose();
        _dataOwner = owner;
        Data = owner.Memory[..length];
        DataSegmentLength = length;
    }

    /// <summary>Points the data segment at memory this PDU does not own (the caller keeps it alive until sent).</summary>
    public void SetBorrowedData(Memory<byte> data)
    {
        _dataOwner?.Dispose();
        _dataOwner = null;
        Data = data;
        DataSegmentLength = data.Length;
    }

    /// <summary>Clears header and data so the instance can be reused.</summary>
    public void Reset()
    {
        Array.Clear(Bhs);
        Rdma = default;
        Ahs = default;
        _dataOwner?.Dispose();
        _dataOwner = null;
        Data = default;
    }

    public void Dispose()
    {
        _dataOwner?.Dispose();
        _dataOwner = null;
        Data = default;
    }

    public override string ToString() =>
        $"{Opcode} ITT=0x{InitiatorTaskTag:x8} F={(Final ? 1 : 0)} flags=0x{Flags:x2} dsl={DataSegmentLength}";
}
