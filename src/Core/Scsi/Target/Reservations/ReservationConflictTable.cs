namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// The SPC-4 / SBC-3 tables of commands allowed in the presence of reservations, and the SPC-2 rules for a
/// RESERVE(6)/(10) reservation with CRH 0 (SPC-2 §5.5.1, §7.21). Pure: the state is the caller's.
/// </summary>
internal static class ReservationConflictTable
{
    public static PrAccess UnderPersistentReservation(PrType type, NexusRelation relation, ScsiCommandClass command)
    {
        if (command is not (ScsiCommandClass.Read or ScsiCommandClass.Write)) return PrAccess.Allowed;
        if (relation == NexusRelation.Holder) return PrAccess.Allowed;
        if (relation == NexusRelation.Registered && type.AdmitsRegistrants()) return PrAccess.Allowed;
        if (command == ScsiCommandClass.Read && type.IsWriteExclusive()) return PrAccess.Allowed;
        return PrAccess.Conflict;
    }

    public static PrAccess UnderLegacyReservation(bool holder, ScsiCommandClass command) => command switch
    {
        // SPC-2 §5.5.1: while any RESERVE is in effect, every PERSISTENT RESERVE command conflicts, the holder's too.
        ScsiCommandClass.PersistentReserveIn or ScsiCommandClass.PersistentReserveOut => PrAccess.Conflict,
        ScsiCommandClass.LegacyReservation or ScsiCommandClass.Unrestricted => PrAccess.Allowed,
        _ => holder ? PrAccess.Allowed : PrAccess.Conflict,
    };
}
