namespace Iser.Core.Scsi.Target.Reservations;

public sealed partial class PersistentReservations
{
    /// <summary>
    /// The state APTPL keeps across power loss (registrations, reservation, APTPL), as bytes for
    /// <see cref="Restore"/>; a consistent snapshot. <see cref="PersistentReservationFile"/> writes it to disk.
    /// </summary>
    public byte[] Serialize()
    {
        lock (_gate)
            return PersistentReservationImage.Encode(_aptpl, _type, _holder is null ? -1 : _registrations.IndexOf(_holder), _registrations);
    }

    /// <summary>
    /// The state at power on from an image <see cref="Serialize"/> made: PRgeneration starts at zero (SPC-4 §6.15.2)
    /// and no RESERVE(6)/(10) reservation survives.
    /// </summary>
    /// <exception cref="InvalidDataException">The image is truncated, damaged, of an unknown version, or inconsistent.</exception>
    public static PersistentReservations Restore(ReadOnlySpan<byte> image, PersistentReservationOptions? options = null)
    {
        var decoded = PersistentReservationImage.Decode(image);
        var state = new PersistentReservations(options);
        foreach (var (nexuses, key) in decoded.Registrations)
        {
            if (key == 0) throw PersistentReservationImage.Corrupt("a registration with key 0");
            if (string.IsNullOrEmpty(nexuses.InitiatorName)) throw PersistentReservationImage.Corrupt("a registration without an initiator name");
            if (state.Overlapping(nexuses) is { } other)
                throw PersistentReservationImage.Corrupt($"registrations for {other.Nexuses} and {nexuses} cover the same I_T nexus");
            state._registrations.Add(new Registration(nexuses, key));
        }

        var type = decoded.Type;
        if (type != PrType.None && !type.IsValid()) throw PersistentReservationImage.Corrupt($"reservation type {(byte)type}");
        if (type.IsAllRegistrants())
        {
            if (decoded.HolderIndex >= 0 || state._registrations.Count == 0)
                throw PersistentReservationImage.Corrupt("an all-registrants reservation with a single holder or no registrants");
            state.SetReservation(type, null);
        }
        else if (type != PrType.None)
        {
            if (decoded.HolderIndex < 0 || decoded.HolderIndex >= state._registrations.Count)
                throw PersistentReservationImage.Corrupt($"reservation holder {decoded.HolderIndex} is not a registration");
            state.SetReservation(type, state._registrations[decoded.HolderIndex]);
        }
        else if (decoded.HolderIndex >= 0)
        {
            throw PersistentReservationImage.Corrupt("a holder without a reservation");
        }
        state._aptpl = decoded.Aptpl;
        state.Publish();
        return state;
    }
}
