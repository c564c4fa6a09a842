using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// What a logical unit sees of one SCSI command: the CDB, the data the initiator is prepared to send or take
/// (Expected Data Transfer Length), and ways to fetch write data and supply read data. Transport-free.
/// </summary>
public interface IScsiTask
{
    ulong Lun { get; }

    /// <summary>
    /// The I_T nexus the command came through (initiator port, target port): what reservations are held and
    /// checked by. Stable for the life of the nexus.
    /// </summary>
    ItNexus Nexus { get; }

    ReadOnlyMemory<byte> Cdb { get; }
    /// <summary>Bytes the initiator will accept (R bit set), 0 otherwise.</summary>
    int ExpectedDataInLength { get; }
    /// <summary>Bytes the initiator will send (W bit set), 0 otherwise.</summary>
    int ExpectedDataOutLength { get; }

    /// <summary>
    /// Fetches the first <paramref name="length"/> bytes of write data (length ≤ ExpectedDataOutLength).
    /// The LU should validate the CDB before calling this, so a bad command is answered without moving data.
    /// </summary>
    ValueTask<ReadOnlyMemory<byte>> ReceiveDataOutAsync(int length, CancellationToken cancellationToken);

    /// <summary>
    /// A buffer of at least <paramref name="length"/> bytes that the LU fills with read data; the core sends
    /// min(length, ExpectedDataInLength) of it and computes residuals against the command's own length.
    /// </summary>
    Memory<byte> GetDataInBuffer(int length);

    /// <summary>
    /// Aborts the other tasks on this logical unit whose nexus <paramref name="whose"/> selects (PREEMPT AND ABORT) and
    /// waits until they have left the logical unit. Returns how many were aborted; none where the core has no others.
    /// </summary>
    ValueTask<int> AbortOtherTasksAsync(Func<ItNexus, bool> whose) => ValueTask.FromResult(0);

    /// <summary>
    /// The logical units of the target this command came through, which its nexus may reach: where EXTENDED COPY looks
    /// for its copy targets, and nowhere else. Empty where the core has none to offer.
    /// </summary>
    IEnumerable<ILogicalUnit> LogicalUnitsOfTarget => [];

    /// <summary>
    /// The asymmetric access states of the target the command came through (ALUA, SPC-4 §5.15): its target port group is
    /// the nexus's TPGT. Null where the logical unit runs outside such a target: it then reports no ALUA support (TPGS 0).
    /// </summary>
    AsymmetricAccessStates? AccessStates => null;
}
