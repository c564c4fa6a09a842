using Iser.Core.Scsi.Target.Reservations;
using Iser.Core.Scsi.Target.Stores;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// Persistent reservations kept in the store (<see cref="ISharedReservationStore"/>), for a medium that several targets
/// serve at once: every PERSISTENT RESERVE OUT reads the stored state, applies the command to a copy of it and replaces
/// the stored state only if nobody else did meanwhile (compare-and-swap; on a conflict it starts over from the newer
/// state). Every other command is checked against the unit's <see cref="PersistentReservations"/>, a copy of the
/// stored state refreshed by each replacement here and by the store's <see cref="ISharedReservationStore.ReservationsChanged"/>,
/// which the other target waits for before its own command completes.
/// </summary>
/// <remarks>
/// The unit attentions a PERSISTENT RESERVE OUT establishes and PREEMPT AND ABORT's aborts travel with the new state
/// (<see cref="PrAnnouncement"/>): each target applies them to its own nexuses.
/// </remarks>
public sealed partial class BlockDeviceLogicalUnit
{
    /// <summary>Attempts of one PERSISTENT RESERVE OUT before giving up when other targets keep replacing the state first.</summary>
    private const int SharedReplaceAttempts = 16;

    private readonly ISharedReservationStore? _sharedReservations;
    private readonly SemaphoreSlim _sharedOutGate = new(1, 1); // one PERSISTENT RESERVE OUT of this unit at a time: no conflicts among ourselves
    private readonly Lock _sharedVersionGate = new();
    private ulong _sharedVersion;

    /// <summary>Whether this unit's reservations live in its store, shared with other targets serving the same medium.</summary>
    public bool SharesReservations => _sharedReservations is not null;

    /// <summary>Every change persists in a shared store, so APTPL 1 is always accepted (PTPL_C 1).</summary>
    private static PersistentReservationOptions SharedReservationOptions => new() { PersistThroughPowerLossCapable = true };

    private static ISharedReservationStore? SharedStoreOf(IBackingStore store) =>
        store is ISharedReservationStore { SharesReservations: true } shared ? shared : null;

    /// <summary>
    /// Listens for other targets' changes, then reads the stored state (in that order, so no change falls between).
    /// Blocking, like opening the store; a state that cannot be read fails the unit's creation in words.
    /// </summary>
    private void AttachSharedReservations(ISharedReservationStore shared)
    {
        shared.ReservationsChanged += OnSharedReservationsChanged;
        try
        {
            var state = shared.ReadReservationsAsync().AsTask().GetAwaiter().GetResult();
            Install(PersistentReservations.RestoreShared(state.Image.Span, SharedReservationOptions), state.Version, sameVersionToo: true);
        }
        catch
        {
            shared.ReservationsChanged -= OnSharedReservationsChanged;
            throw;
        }
        _logger.LogInformation("Logical unit {Identity}: persistent reservations shared through {Store} (version {Version}): {State}.",
            Identity, _store.Describe(), _sharedVersion, _reservations);
    }

    private void DetachSharedReservations()
    {
        if (_sharedReservations is { } shared) shared.ReservationsChanged -= OnSharedReservationsChanged;
    }

    /// <summary>
    /// Another target (or this one) stored a new state: install it unless a newer one is already here, then do here what
    /// the other target's command announced (its unit attentions, PREEMPT AND ABORT's aborts) before the store acks.
    /// </summary>
    private void OnSharedReservationsChanged(SharedReservationState state)
    {
        try
        {
            var decoded = PersistentReservations.RestoreShared(state.Image.Span, SharedReservationOptions);
            if (Install(decoded, state.Version, sameVersionToo: false))
                _logger.LogInformation("Logical unit {Identity}: persistent reservations changed by another target (version {Version}): {State}.",
                    Identity, state.Version, _reservations);
        }
        catch (InvalidDataException e)
        {
            // Keep enforcing the last good state; the next PERSISTENT RESERVE OUT reads the store again and says so.
            _logger.LogError(e, "Logical unit {Identity}: the shared persistent reservation state version {Version} is unreadable.", Identity, state.Version);
        }
        if (!state.Announcement.IsEmpty) ApplyAnnouncement(state.Announcement.Span, state.Version);
    }

    /// <summary>How long an announced PREEMPT AND ABORT waits here for the aborted tasks, within the store's notify timeout.</summary>
    private static readonly TimeSpan AnnouncedAbortWait = TimeSpan.FromSeconds(5);

    private void ApplyAnnouncement(ReadOnlySpan<byte> announcement, ulong version)
    {
        IReadOnlyList<PrUnitAttention> unitAttentions;
        IReadOnlyList<ItNexusPattern> abortTasksOf;
        try { (unitAttentions, abortTasksOf) = PrAnnouncement.Decode(announcement); }
        catch (InvalidDataException e)
        {
            _logger.LogError(e, "Logical unit {Identity}: the announcement with reservation version {Version} is unreadable.", Identity, version);
            return;
        }
        // The store's thread waits for this (its ack completes the other target's command); the aborts run off it.
        var effects = Task.Run(async () => await ApplyOutAsync(unitAttentions, abortTasksOf, AbortAnnouncedAsync, "another target").ConfigureAwait(false));
        try
        {
            if (!effects.Wait(AnnouncedAbortWait))
                _logger.LogWarning("Logical unit {Identity}: the tasks a PREEMPT AND ABORT of another target aborts here did not end within {Seconds} s.",
                    Identity, AnnouncedAbortWait.TotalSeconds);
        }
        catch (AggregateException e)
        {
            _logger.LogError(e.InnerException, "Logical unit {Identity}: applying another target's reservation announcement failed.", Identity);
        }
    }

    private ValueTask<int> AbortAnnouncedAsync(Func<ItNexus, bool> whose) =>
        _host is { } host ? host.AbortTasksAsync(this, whose) : ValueTask.FromResult(0);

    /// <summary>Installs a stored state if its version is newer than the one enforced (or as new, when asked).</summary>
    private bool Install(PersistentReservations state, ulong version, bool sameVersionToo)
    {
        lock (_sharedVersionGate)
        {
            if (version < _sharedVersion || (version == _sharedVersion && !sameVersionToo)) return false;
            _reservations.Adopt(state);
            _sharedVersion = version;
            return true;
        }
    }

    /// <summary>
    /// PERSISTENT RESERVE OUT against the shared state: read, apply to a copy, compare-and-swap, starting over when
    /// another target got there first. A command that changes nothing (a conflict, an error, RESERVE by the holder)
    /// stores nothing. Store failures are <see cref="IOException"/>s; a damaged stored state an <see cref="InvalidDataException"/>.
    /// </summary>
    private ValueTask<PrOutcome> SharedOutAsync(ISharedReservationStore shared, ItNexus nexus, PrOutCdb cdb, PrOutParameters parameters,
        Func<ushort, bool>? targetPortExists, CancellationToken cancellationToken) =>
        SharedChangeAsync(shared, copy => copy.Out(nexus, cdb.ServiceAction, cdb.Type, parameters, targetPortExists),
            $"PERSISTENT RESERVE OUT {cdb.ServiceAction} from {nexus}", cancellationToken);

    /// <summary>
    /// Applies <paramref name="change"/> to a copy of the stored state and stores the copy if it changed, by
    /// compare-and-swap (starting over from the newer state when another target stored first), with the announcement
    /// of what the outcome does to other nexuses.
    /// </summary>
    private async ValueTask<PrOutcome> SharedChangeAsync(ISharedReservationStore shared, Func<PersistentReservations, PrOutcome> change,
        string what, CancellationToken cancellationToken)
    {
        await _sharedOutGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                var state = await shared.ReadReservationsAsync(cancellationToken).ConfigureAwait(false);
                var copy = PersistentReservations.RestoreShared(state.Image.Span, SharedReservationOptions);
                long changes = copy.ChangeCount;
                uint generation = copy.Generation;
                var legacyHolder = copy.LegacyHolder;
                var outcome = change(copy);
                if (copy.ChangeCount == changes && copy.Generation == generation && Nullable.Equals(copy.LegacyHolder, legacyHolder))
                {
                    Install(copy, state.Version, sameVersionToo: true); // what was read is at least as new as what is enforced
                    return outcome;
                }
                // The other targets establish the same unit attentions and abort the same tasks on their own nexuses.
                var announcement = PrAnnouncement.Encode(outcome);
                if (await shared.TryReplaceReservationsAsync(copy.SerializeShared(), state.Version, announcement, cancellationToken).ConfigureAwait(false) is { } version)
                {
                    Install(copy, version, sameVersionToo: true);
                    return outcome;
                }
                _logger.LogDebug("{What}: another target changed the reservations first (attempt {Attempt}); again.", what, attempt);
                if (attempt == SharedReplaceAttempts)
                    throw new IOException($"The shared persistent reservation state changed under each of {SharedReplaceAttempts} attempts to apply {what}.");
            }
        }
        finally { _sharedOutGate.Release(); }
    }

    /// <summary>RESERVE(6)/(10) or RELEASE(6)/(10) over a shared store: the holder is part of the stored state.</summary>
    private async ValueTask<ScsiCommandResult> SharedLegacyReservationAsync(ISharedReservationStore shared, ItNexus nexus, bool reserve,
        CancellationToken cancellationToken)
    {
        string what = $"{(reserve ? "RESERVE" : "RELEASE")} from {nexus}";
        try
        {
            var outcome = await SharedChangeAsync(shared, copy => reserve ? copy.LegacyReserve(nexus) : copy.LegacyRelease(nexus), what, cancellationToken).ConfigureAwait(false);
            _logger.LogDebug("{What}: {Outcome}.", what, outcome);
            return outcome.ToCommandResult();
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            _logger.LogError(e, "{What} on {Identity}: the shared reservation state could not be updated.", what, Identity);
            return Check(InternalTargetFailure);
        }
    }

    /// <summary>
    /// A nexus loss or a reset released a RESERVE(6)/(10) reservation held here: the stored state follows, off the
    /// caller's thread (neither may wait for the store). <paramref name="release"/> is applied to the stored state.
    /// </summary>
    private void ReleaseSharedLegacy(Func<PersistentReservations, PrOutcome> release, string why)
    {
        if (_sharedReservations is not { } shared) return;
        _ = Task.Run(async () =>
        {
            try { await SharedChangeAsync(shared, release, why, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                _logger.LogError(e, "Logical unit {Identity}: {Why}: the RESERVE reservation could not be released in the shared state.", Identity, why);
            }
        });
    }
}
