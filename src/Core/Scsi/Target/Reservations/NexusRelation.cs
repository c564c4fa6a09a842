namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>Where a nexus stands towards the persistent reservation: the three kinds of column of the SPC-4 allowed-commands table.</summary>
internal enum NexusRelation : byte
{
    NotRegistered,
    /// <summary>Registered, not holding the reservation.</summary>
    Registered,
    /// <summary>Holds the reservation (under an all-registrants type, every registered nexus does).</summary>
    Holder,
}
