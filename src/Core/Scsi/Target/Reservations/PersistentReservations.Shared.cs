using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target.Reservations;

public sealed partial class PersistentReservations
{
    private const int SharedHeaderLength = 4;

    /// <summary>
    /// The state as several targets share it (<see cref="Stores.ISharedReservationStore"/>): PRgeneration, big-endian
    /// u32, then the <see cref="Serialize"/> image. PRgeneration is shared too, so READ KEYS through either target
    /// counts the same changes. A RESERVE(6)/(10) reservation belongs to one target and is not part of it.
    /// </summary>
    public byte[] SerializeShared()
    {
        lock (_gate)
        {
            var image = PersistentReservationImage.Encode(_aptpl, _type, _holder is null ? -1 : _registrations.IndexOf(_holder), _registrations);
            var shared = new byte[SharedHeaderLength + image.Length];
            BinaryPrimitives.WriteUInt32BigEndian(shared, _generation);
            image.CopyTo(shared, SharedHeaderLength);
            return shared;
        }
    }

    /// <summary>The state <see cref="SerializeShared"/> made; empty bytes are the state of a unit nobody registered with.</summary>
    /// <exception cref="InvalidDataException">The bytes are truncated, damaged or inconsistent.</exception>
    public static PersistentReservations RestoreShared(ReadOnlySpan<byte> shared, PersistentReservationOptions? options = null)
    {
        if (shared.IsEmpty) return new PersistentReservations(options);
        if (shared.Length < SharedHeaderLength) throw PersistentReservationImage.Corrupt($"a shared state of {shared.Length} bytes");
        var state = Restore(shared[SharedHeaderLength..], options);
        state._generation = BinaryPrimitives.ReadUInt32BigEndian(shared);
        return state;
    }

    /// <summary>
    /// Takes over <paramref name="source"/>'s persistent state (registrations, reservation, APTPL, PRgeneration): how a
    /// unit over a shared store installs the state it or another target stored. This unit's own RESERVE(6)/(10)
    /// reservation stays. <paramref name="source"/> is a throwaway copy and must not be used afterwards.
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
            _changes++;
            Publish();
        }
    }

    /// <summary>How many changes the state has seen: a PERSISTENT RESERVE OUT that leaves it and PRgeneration alone stores nothing.</summary>
    internal long ChangeCount { get { lock (_gate) return _changes; } }

    /// <summary>Whether a RESERVE(6)/(10) reservation is held here (every PERSISTENT RESERVE OUT then conflicts, SPC-2 §5.5.1).</summary>
    internal bool HasLegacyReservation { get { lock (_gate) return _legacyHolder.HasValue; } }
}
