namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// How a command fares under reservations: the rows of the SPC-4 and SBC-3 tables of "commands that are allowed
/// in the presence of various reservations" fall into these few patterns. See <see cref="ScsiCommandClassifier"/>.
/// </summary>
public enum ScsiCommandClass : byte
{
    /// <summary>
    /// Writes or changes the medium or device state (WRITE, UNMAP, SYNCHRONIZE CACHE, MODE SELECT, ...): only the
    /// holder, or registrants under a registrants-only / all-registrants type. Unknown commands are put here.
    /// </summary>
    Write,

    /// <summary>
    /// Reads data (READ, VERIFY, MODE SENSE, READ BUFFER, REPORT SUPPORTED OPERATION CODES, ...): like
    /// <see cref="Write"/>, except that Write Exclusive types let every nexus through.
    /// </summary>
    Read,

    /// <summary>
    /// Allowed whatever the reservation, and through another nexus's RESERVE(6)/(10) too: INQUIRY, REPORT LUNS,
    /// REQUEST SENSE, LOG SENSE, READ CAPACITY, REPORT TARGET PORT GROUPS, PREVENT ALLOW MEDIUM REMOVAL with PREVENT 0, ...
    /// </summary>
    Unrestricted,

    /// <summary>TEST UNIT READY: allowed under every persistent reservation, conflicts with another nexus's RESERVE(6)/(10).</summary>
    UnrestrictedByPersistentReservations,

    /// <summary>PERSISTENT RESERVE IN: allowed under persistent reservations; conflicts while any RESERVE(6)/(10) is held.</summary>
    PersistentReserveIn,

    /// <summary>
    /// PERSISTENT RESERVE OUT: conflicts while any RESERVE(6)/(10) is held; otherwise its own rules decide
    /// (<see cref="PersistentReservations.Out"/>), which give SPC-4's table of service actions allowed in the presence of reservations.
    /// </summary>
    PersistentReserveOut,

    /// <summary>RESERVE(6)/(10) and RELEASE(6)/(10): decided by <see cref="PersistentReservations.LegacyReserve"/> / <see cref="PersistentReservations.LegacyRelease"/>.</summary>
    LegacyReservation,
}
