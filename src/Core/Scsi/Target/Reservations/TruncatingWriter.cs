using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// Writes big-endian fields into a buffer as if it were long enough, keeping what fits: PERSISTENT RESERVE IN data
/// is cut at the allocation length (SPC-4 §4.2.5.6) while its length fields still tell the whole length.
/// </summary>
internal ref struct TruncatingWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;
    private int _position;

    /// <summary>Bytes that landed in the buffer.</summary>
    public readonly int Written => Math.Min(_position, _destination.Length);

    public void Byte(byte value)
    {
        if (_position < _destination.Length) _destination[_position] = value;
        _position++;
    }

    public void UInt16(ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        Bytes(b);
    }

    public void UInt32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        Bytes(b);
    }

    public void UInt64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        Bytes(b);
    }

    /// <summary>Reserved bytes: zeroed, since the buffer may hold anything.</summary>
    public void Zeros(int count)
    {
        if (_position < _destination.Length) _destination.Slice(_position, Math.Min(count, _destination.Length - _position)).Clear();
        _position += count;
    }

    public void Bytes(scoped ReadOnlySpan<byte> value)
    {
        if (_position < _destination.Length)
        {
            int n = Math.Min(value.Length, _destination.Length - _position);
            value[..n].CopyTo(_destination[_position..]);
        }
        _position += value.Length;
    }
}
