using Iser.Core.Scsi.Target.Alua;

namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A store that keeps, beside its medium, the ALUA target port groups of every target serving that medium (two
/// gateways in front of one Ceph image), so REPORT TARGET PORT GROUPS through any of them lists all the groups with
/// their states. Each target publishes its own groups; the store tells whether the target that published a group is
/// still there (a gateway that stopped or lost its connection to the store is not).
/// </summary>
public interface ISharedAccessStateStore
{
    /// <summary>False when this store keeps each target's groups to itself (rbd's <c>alua=local</c>, a snapshot).</summary>
    bool SharesAccessStates { get; }

    /// <summary>
    /// Stores <paramref name="groups"/> as this target's groups (replacing what it published before; a group another
    /// target published under the same identifier is this target's from now on) and announces them to the other
    /// targets (<see cref="OtherTargetsChanged"/> there) before returning.
    /// </summary>
    /// <exception cref="IOException">The groups could not be stored (the words say why).</exception>
    ValueTask PublishAccessStatesAsync(IReadOnlyList<TargetPortGroup> groups, CancellationToken cancellationToken = default);

    /// <summary>
    /// The groups the other targets published, as last heard (no round trip to the store), each with whether its target
    /// is still there.
    /// </summary>
    IReadOnlyList<SharedTargetPortGroup> OtherTargetsAccessStates { get; }

    /// <summary>
    /// Raised when <see cref="OtherTargetsAccessStates"/> changed: another target published, or one was found gone.
    /// Handlers must be quick.
    /// </summary>
    event Action? OtherTargetsChanged;

    /// <summary>
    /// Whether a target whose groups are all gone lets this one make its own group active/optimized (rbd's
    /// <c>alua=auto</c>).
    /// </summary>
    bool TakesOverAccess => false;
}
