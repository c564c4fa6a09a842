using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Stores;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// ALUA across the targets serving one medium (<see cref="ISharedAccessStateStore"/>): the unit publishes its target's
/// port groups and their states to the store whenever they change, REPORT TARGET PORT GROUPS lists the other targets'
/// groups beside its own, and a change of those (another target's SET TARGET PORT GROUPS or start, a target found gone)
/// is ASYMMETRIC ACCESS STATE CHANGED for every nexus here. A group whose target is gone is reported unavailable,
/// whatever state it last published: that target answers no command, and the initiator must not pick its paths.
/// </summary>
public sealed partial class BlockDeviceLogicalUnit
{
    private readonly ISharedAccessStateStore? _sharedAccess;
    private readonly SemaphoreSlim _publishGate = new(1, 1);
    private readonly Lock _hostGate = new();
    private ILogicalUnitHost? _host;
    private TargetPortGroup[]? _published;                 // what this unit last stored, under _publishGate
    private TargetPortGroup[] _otherGroupsReported = [];   // the other targets' groups as last reported, under _hostGate

    /// <summary>Whether this unit shares its target's ALUA states with the other targets of its medium.</summary>
    public bool SharesAccessStates => _sharedAccess is not null;

    private static ISharedAccessStateStore? SharedAccessStoreOf(IBackingStore store) =>
        store is ISharedAccessStateStore { SharesAccessStates: true } shared ? shared : null;

    private void AttachSharedAccessStates(ISharedAccessStateStore shared)
    {
        shared.OtherTargetsChanged += OnOtherTargetsChanged;
        _otherGroupsReported = OtherGroupsAsReported(shared); // what the unit starts with is no change
    }

    public void AttachHost(ILogicalUnitHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        lock (_hostGate)
        {
            if (_host is not null) return; // a unit serves in one target
            _host = host;
        }
        if (_sharedAccess is null) return;
        host.AccessStates.GroupsChanged += OnLocalGroupsChanged;
        OnLocalGroupsChanged();
    }

    private void DetachSharedAccessStates()
    {
        if (_sharedAccess is null) return;
        _sharedAccess.OtherTargetsChanged -= OnOtherTargetsChanged;
        if (_host is { } host) host.AccessStates.GroupsChanged -= OnLocalGroupsChanged;
    }

    /// <summary>The target's groups changed (a group added, a state set): publish them, off the caller's thread.</summary>
    private void OnLocalGroupsChanged() => _ = PublishLoggedAsync();

    private async Task PublishLoggedAsync()
    {
        try { await PublishAccessStatesAsync(CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            _logger.LogError(e, "Logical unit {Identity}: the target port groups could not be shared with the other targets of {Store}.", Identity, _store.Describe());
        }
    }

    /// <summary>Stores the target's groups unless they are what this unit stored last. Throws what the store throws.</summary>
    private async ValueTask PublishAccessStatesAsync(CancellationToken cancellationToken)
    {
        if (_sharedAccess is not { } shared || _host is not { } host) return;
        await _publishGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var groups = host.AccessStates.Groups.ToArray();
            if (groups.Length == 0 || (_published is { } last && last.AsSpan().SequenceEqual(groups))) return;
            await shared.PublishAccessStatesAsync(groups, cancellationToken).ConfigureAwait(false);
            _published = groups;
            _logger.LogInformation("Logical unit {Identity}: target port groups shared: {Groups}.", Identity, Describe(groups));
        }
        finally { _publishGate.Release(); }
    }

    /// <summary>Another target published, or was found gone: every nexus here is told, if what is reported changed.</summary>
    private void OnOtherTargetsChanged()
    {
        if (_sharedAccess is not { } shared) return;
        var now = OtherGroupsAsReported(shared);
        lock (_hostGate)
        {
            if (_otherGroupsReported.AsSpan().SequenceEqual(now)) return;
            _otherGroupsReported = now;
        }
        _logger.LogInformation("Logical unit {Identity}: the other targets' port groups are now {Groups}.", Identity, Describe(now));
        // The takeover first: an initiator told of the change then reads the states after it, not half of it.
        TakeOverIfOptimizedGone(shared);
        _unitAttentions.EstablishForAll(UnitAttentions.AsymmetricAccessStateChanged);
    }

    /// <summary>The other targets' groups as this unit reports them: those of a target gone are unavailable.</summary>
    private static TargetPortGroup[] OtherGroupsAsReported(ISharedAccessStateStore shared)
    {
        var groups = shared.OtherTargetsAccessStates
            .Select(g => g.TargetPresent ? g.Group : g.Group with { State = AluaState.Unavailable, StatusCode = TargetPortGroup.AlteredImplicitly })
            .ToArray();
        Array.Sort(groups, static (x, y) => x.Id.CompareTo(y.Id));
        return groups;
    }

    /// <summary>
    /// What REPORT TARGET PORT GROUPS lists: the target's own groups and, over a shared store, the other targets' groups
    /// (a group this target has itself is its own), in ascending identifier order.
    /// </summary>
    private IReadOnlyCollection<TargetPortGroup> GroupsToReport(AsymmetricAccessStates local)
    {
        var own = local.Groups;
        if (_sharedAccess is null) return own;
        TargetPortGroup[] others;
        lock (_hostGate) others = _otherGroupsReported;
        var all = new List<TargetPortGroup>(own.Count + others.Length);
        all.AddRange(own);
        foreach (var g in others)
            if (!local.Contains(g.Id)) all.Add(g);
        all.Sort(static (x, y) => x.Id.CompareTo(y.Id));
        return all;
    }

    /// <summary>
    /// Whether a relative target port identifier names a port of this logical unit (REGISTER AND MOVE's destination):
    /// one of the target's portal groups or, over a shared store, of another gateway's (gone or not: the port exists).
    /// </summary>
    private Func<ushort, bool> TargetPortExists(AsymmetricAccessStates local)
    {
        if (_sharedAccess is null) return local.Contains;
        TargetPortGroup[] others;
        lock (_hostGate) others = _otherGroupsReported;
        return id => local.Contains(id) || Array.Exists(others, g => g.RelativeTargetPortId == id);
    }

    /// <summary>
    /// alua=auto: the target that had the only active/optimized group is gone, so this target makes its own groups
    /// active/optimized (an implicit transition: every nexus is told, and the new states are published).
    /// </summary>
    private void TakeOverIfOptimizedGone(ISharedAccessStateStore shared)
    {
        if (!shared.TakesOverAccess || _host is not { } host) return;
        var others = shared.OtherTargetsAccessStates;
        bool optimizedGone = others.Any(g => !g.TargetPresent && g.Group.State == AluaState.ActiveOptimized);
        bool optimizedLeft = others.Any(g => g.TargetPresent && g.Group.State == AluaState.ActiveOptimized)
                             || host.AccessStates.Groups.Any(g => g.State == AluaState.ActiveOptimized);
        if (!optimizedGone || optimizedLeft) return;
        foreach (var g in host.AccessStates.Groups)
        {
            _logger.LogWarning("Logical unit {Identity}: the target with the active/optimized port group is gone; portal group {Group} takes over as active/optimized.", Identity, g.Id);
            host.AccessStates.SetState(g.Id, AluaState.ActiveOptimized);
        }
    }

    private static string Describe(IEnumerable<TargetPortGroup> groups)
    {
        var text = string.Join(", ", groups.Select(g => $"{g.Id} {g.State.Name()}"));
        return text.Length == 0 ? "none" : text;
    }
}
