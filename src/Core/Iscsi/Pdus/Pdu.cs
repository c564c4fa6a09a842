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

    // A pooled array this PDU owns and reuses for received or built data segments.
    private byte[]? _ownedBuffer;

    /// <summary>The data segment (unpadded): either a slice of this PDU's pooled buffer or borrowed memory.</summary>
    public Memory<byte> Data { get; private set; }

    /// <summary>Told when the transport has written (or failed to write) this PDU; lets a task reuse borrowed buffers.</summary>
    public IPduSentNotification? SentNotification { get; set; }

    /// <summary>
    /// A numbered PDU sent again (ERL 1 recovery: SNACK, a retried command): it keeps the StatSN it was first sent with,
    /// so the sequence-number stamping leaves that field alone.
    /// </summary>
    public bool Retransmission { get; set; }

    /// <summary>Opaque per-PDU cookie for the core (e.g. the task a Data-In belongs to). Never read by transports.</summary>
    public object? Context { get; set; }

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

    /// <summary>Makes the data segment <paramref name="length"/> bytes of this PDU's own pooled buffer and returns it to fill.</summary>
    public Memory<byte> AllocateData(int length)
    {
        if (_ownedBuffer is null || _ownedBuffer.Length < length)
        {
            if (_ownedBuffer is not null) ArrayPool<byte>.Shared.Return(_ownedBuffer);
            _ownedBuffer = length == 0 ? null : ArrayPool<byte>.Shared.Rent(length);
        }
        Data = length == 0 ? Memory<byte>.Empty : _ownedBuffer.AsMemory(0, length);
        DataSegmentLength = length;
        return Data;
    }

    /// <summary>Copies <paramref name="data"/> into this PDU's own buffer as the data segment.</summary>
    public void SetData(ReadOnlySpan<byte> data) => data.CopyTo(AllocateData(data.Length).Span);

    /// <summary>Points the data segment at memory this PDU does not own; the caller keeps it valid until
    /// <see cref="SentNotification"/> fires (or the PDU is returned to the pool).</summary>
    public void SetBorrowedData(Memory<byte> data)
    {
        Data = data;
        DataSegmentLength = data.Length;
    }

    /// <summary>Clears header and data so the instance can be reused; a small owned buffer is kept for the next use.</summary>
    public void Reset()
    {
        Array.Clear(Bhs);
        Rdma = default;
        Ahs = default;
        Data = default;
        SentNotification = null;
        Retransmission = false;
        Context = null;
        if (_ownedBuffer is { Length: > MaxRetainedBuffer })
        {
            ArrayPool<byte>.Shared.Return(_ownedBuffer);
            _ownedBuffer = null;
        }
    }

    private const int MaxRetainedBuffer = 64 * 1024;

    public void Dispose()
    {
        Data = default;
        if (_ownedBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_ownedBuffer);
            _ownedBuffer = null;
        }
    }

    public override string ToString() =>
        $"{Opcode} ITT=0x{InitiatorTaskTag:x8} F={(Final ? 1 : 0)} flags=0x{Flags:x2} dsl={DataSegmentLength}";
}
