using System.Buffers.Binary;
using System.Text;

namespace Iser.Core.Scsi.Target.Reservations;

public sealed partial class PersistentReservations
{
    private const int SharedHeaderLength = 4;

    private const byte LegacyHolderTag = 1;

    /// <summary>
    /// The state as several targets share it (<see cref="Stores.ISharedReservationStore"/>): PRgeneration, big-endian
    /// u32, then the <see cref="Serialize"/> image, then, while a RESERVE(6)/(10) reservation is held, its holder (tag
    /// u8 1, ISID u64, TPGT u16, relative target port u16, initiator and target name each as length u16 and UTF-8).
    /// PRgeneration is shared too, so READ KEYS through either target counts the same changes; the RESERVE holder is,
    /// so a RESERVE through one target conflicts with commands through another.
    /// </summary>
    public byte[] SerializeShared()
    {
        lock (_gate)
        {
            var image = PersistentReservationImage.Encode(_aptpl, _type, _holder is null ? -1 : _registrations.IndexOf(_holder), _registrations);
            byte[] legacy = _legacyHolder is { } holder ? EncodeLegacyHolder(holder) : [];
            var shared = new byte[SharedHeaderLength + image.Length + legacy.Length];
            BinaryPrimitives.WriteUInt32BigEndian(shared, _generation);
            image.CopyTo(shared, SharedHeaderLength);
            legacy.CopyTo(shared, SharedHeaderLength + image.Length);
            return shared;
        }
    }

    private static byte[] EncodeLegacyHolder(in ItNexus holder)
    {
        var initiator = Encoding.UTF8.GetBytes(holder.InitiatorName);
        var target = Encoding.UTF8.GetBytes(holder.TargetName);
        var d = new byte[1 + 8 + 2 + 2 + 2 + initiator.Length + 2 + target.Length];
        d[0] = LegacyHolderTag;
        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(1), holder.Isid);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(9), holder.Tpgt);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(11), holder.RelativeTargetPortId);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(13), (ushort)initiator.Length);
        initiator.CopyTo(d, 15);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(15 + initiator.Length), (ushort)target.Length);
        target.CopyTo(d, 17 + initiator.Length);
        return d;
    }

    private static ItNexus DecodeLegacyHolder(ReadOnlySpan<byte> d)
    {
        try
        {
            if (d.Length < 17 || d[0] != LegacyHolderTag) throw PersistentReservationImage.Corrupt($"{d.Length} bytes after the image that are no RESERVE holder");
            int initiatorLength = BinaryPrimitives.ReadUInt16BigEndian(d[13..]);
            if (d.Length < 17 + initiatorLength) throw PersistentReservationImage.Corrupt("a truncated RESERVE holder");
            int targetLength = BinaryPrimitives.ReadUInt16BigEndian(d[(15 + initiatorLength)..]);
            if (d.Length != 17 + initiatorLength + targetLength) throw PersistentReservationImage.Corrupt("a RESERVE holder of the wrong length");
            var utf8 = new UTF8Encoding(false, true);
            return new ItNexus(utf8.GetString(d.Slice(15, initiatorLength)), BinaryPrimitives.ReadUInt64BigEndian(d[1..]),
                utf8.GetString(d.Slice(17 + initiatorLength, targetLength)), BinaryPrimitives.ReadUInt16BigEndian(d[9..]),
                BinaryPrimitives.ReadUInt16BigEndian(d[11..]));
        }
        catch (Exception e) when (e is ArgumentException or DecoderFallbackException)
        {
            throw PersistentReservationImage.Corrupt($"an invalid RESERVE holder ({e.Message})");
        }
    }

    /// <summary>The state <see cref="SerializeShared"/> made; empty bytes are the state of a unit nobody registered with.</summary>
    /// <exception cref="InvalidDataException">The bytes are truncated, damaged or inconsistent.</exception>
    public static PersistentReservations RestoreShared(ReadOnlySpan<byte> shared, PersistentReservationOptions? options = null)
    {
        if (shared.IsEmpty) return new PersistentReservations(options);
        if (shared.Length < SharedHeaderLength + 12) throw PersistentReservationImage.Corrupt($"a shared state of {shared.Length} bytes");
        // The image says its own length (bytes 8-11); what follows it is the RESERVE holder, if any.
        var rest = shared[SharedHeaderLength..];
        int imageLength = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(rest[8..]), (uint)rest.Length);
        var state = Restore(rest[..imageLength], options);
        state._generation = BinaryPrimitives.ReadUInt32BigEndian(shared);
        if (imageLength < rest.Length)
        {
            state._legacyHolder = DecodeLegacyHolder(rest[imageLength..]);
            state.Publish();
        }
        return state;
    }

    /// <summary>
    /// Takes over <paramref name="source"/>'s state (registrations, reservation, APTPL, PRgeneration, the RESERVE(6)/(10)
    /// holder): how a unit over a shared store installs the state it or another target stored. <paramref name="source"/>
    /// is a throwaway copy and must not be used afterwards.
    /// </summary>
    public void Adopt(PersistentReservations source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (ReferenceEquals(source, this)) return;
        lock (source._gate)
        lock (_gate)
        {
            _registrations.Clear();
            _registrations.AddRange(source._registrations);
            _type = source._type;
            _holder = source._holder;
            _aptpl = source._aptpl;
            _generation = source._generation;
            _legacyHolder = source._legacyHolder;
            _changes++;
            Publish();
        }
    }

    /// <summary>How many changes the state has seen: a PERSISTENT RESERVE OUT that leaves it and PRgeneration alone stores nothing.</summary>
    internal long ChangeCount { get { lock (_gate) return _changes; } }

    /// <summary>The nexus holding a RESERVE(6)/(10) reservation, or null.</summary>
    internal ItNexus? LegacyHolder { get { lock (_gate) return _legacyHolder; } }
}
