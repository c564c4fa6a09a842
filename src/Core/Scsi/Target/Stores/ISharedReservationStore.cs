namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A store that keeps a logical unit's persistent reservation state beside its medium, where every target serving the
/// same medium (two gateways in front of one Ceph image) reads and replaces it, so all of them enforce the same
/// registrations and reservation. The state is an opaque image with a version: a replacement names the version it
/// was computed from and fails when another target replaced the state meanwhile (compare-and-swap), and every
/// replacement is announced to the other targets before <see cref="TryReplaceReservationsAsync"/> returns.
/// </summary>
/// <remarks>
/// With such a store the logical unit persists every change whatever APTPL says: the state outlives any one target,
/// as it must for the others to see it.
/// </remarks>
public interface ISharedReservationStore
{
    /// <summary>
    /// False when this store was told to keep reservations per target after all (rbd's <c>pr=local</c>, a
    /// read-only snapshot): the logical unit then keeps them in memory as over any other store.
    /// </summary>
    bool SharesReservations { get; }

    /// <summary>The state now; an empty image with version 0 when none was ever stored.</summary>
    /// <exception cref="IOException">The state could not be read (the words say why).</exception>
    ValueTask<SharedReservationState> ReadReservationsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the state with <paramref name="image"/> if it is still at <paramref name="expectedVersion"/>, and
    /// announces the new state (<see cref="ReservationsChanged"/> in the other targets, with
    /// <paramref name="announcement"/> as its <see cref="SharedReservationState.Announcement"/>) before returning.
    /// Returns the new version, or null when another target replaced the state first (nothing was written: read it again).
    /// </summary>
    /// <exception cref="IOException">The state could not be written (the words say why); it may or may not have changed.</exception>
    ValueTask<ulong?> TryReplaceReservationsAsync(ReadOnlyMemory<byte> image, ulong expectedVersion, ReadOnlyMemory<byte> announcement,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Raised with the new state when another target (or this one) replaced it, or when the store lost track and read
    /// it again. Handlers must be quick: the replacing target waits for them (that wait is what makes its command
    /// complete only once every target enforces the new state).
    /// </summary>
    event Action<SharedReservationState>? ReservationsChanged;
}
