using System.Collections.Immutable;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Scsi.Target.Alua;

/// <summary>
/// The asymmetric access state of each target port group of a target (SPC-4 §5.15), shared by all its logical units:
/// groups are portal groups, so a state applies to every LU reached through that group's portals. Every group starts
/// active/optimized. A change made here (the library: an implicit transition) or by SET TARGET PORT GROUPS (explicit)
/// is announced through <see cref="Changed"/>, whose subscriber (the target) raises ASYMMETRIC ACCESS STATE CHANGED.
/// </summary>
/// <remarks>
/// Commands read <see cref="AllActive"/> first: while no group is in a state that refuses commands, the check costs one
/// volatile field read, and the group table is looked at only otherwise.
/// </remarks>
public sealed class AsymmetricAccessStates
{
    private readonly object _gate = new();
    // Replaced whole on a change, so commands read it without a lock.
    private volatile ImmutableSortedDictionary<ushort, TargetPortGroup> _groups = ImmutableSortedDictionary<ushort, TargetPortGroup>.Empty;
    private volatile bool _allActive = true;

    /// <summary>
    /// Raised after a change, outside any lock, with the nexus whose SET TARGET PORT GROUPS made it (which is not told),
    /// or null for a change the library made (every nexus is told).
    /// </summary>
    public event Action<ItNexus?>? Changed;

    /// <summary>
    /// Raised after the table changed in any way (a group added, a state set), outside any lock: what a logical unit
    /// that publishes the table to other targets listens to. No unit attention follows from it.
    /// </summary>
    public event Action? GroupsChanged;

    /// <summary>True while every group is active (optimized or not): no command is refused for its access state.</summary>
    public bool AllActive => _allActive;

    /// <summary>The groups in ascending identifier order.</summary>
    public IReadOnlyCollection<TargetPortGroup> Groups => _groups.Values.ToList();

    public bool Contains(ushort group) => _groups.ContainsKey(group);

    /// <summary>The state of <paramref name="group"/>; active/optimized for a group never added.</summary>
    public AluaState StateOf(ushort group) => _groups.TryGetValue(group, out var g) ? g.State : AluaState.ActiveOptimized;

    /// <summary>Adds a group (active/optimized) unless it exists. Group 0 cannot be: relative target port 0 is reserved.</summary>
    public void AddGroup(ushort group)
    {
        if (group == 0)
            throw new ArgumentOutOfRangeException(nameof(group), "Target port group 0 cannot be used: its target port would have relative target port identifier 0, which SPC-4 reserves.");
        lock (_gate)
        {
            if (_groups.ContainsKey(group)) return;
            _groups = _groups.Add(group, new TargetPortGroup(group, AluaState.ActiveOptimized, TargetPortGroup.NoStatus));
        }
        GroupsChanged?.Invoke();
    }

    /// <summary>
    /// Sets the state of a group (an implicit transition, SPC-4 §5.15.2.3): every nexus of every logical unit that used it
    /// is told by ASYMMETRIC ACCESS STATE CHANGED. Setting the state a group already has changes nothing.
    /// </summary>
    public void SetState(ushort group, AluaState state)
    {
        if (!Enum.IsDefined(state)) throw new ArgumentOutOfRangeException(nameof(state), $"0x{(byte)state:X} is not an asymmetric access state.");
        bool changed;
        lock (_gate)
        {
            if (!_groups.ContainsKey(group))
                throw new ArgumentException($"There is no target port group {group}: groups are the portal groups the target listens in ({Describe()}).", nameof(group));
            changed = Apply(group, state, TargetPortGroup.AlteredImplicitly);
        }
        if (!changed) return;
        GroupsChanged?.Invoke();
        Changed?.Invoke(null);
    }

    /// <summary>
    /// SET TARGET PORT GROUPS (explicit transitions): the caller has checked every group and state; all are applied,
    /// then the other nexuses are told once.
    /// </summary>
    internal void SetByCommand(IReadOnlyList<(ushort Group, AluaState State)> changes, in ItNexus requester)
    {
        bool changed = false;
        lock (_gate)
            foreach (var (group, state) in changes)
                changed |= Apply(group, state, TargetPortGroup.AlteredBySetTargetPortGroups);
        if (!changed) return;
        GroupsChanged?.Invoke();
        Changed?.Invoke(requester);
    }

    private bool Apply(ushort group, AluaState state, byte statusCode)
    {
        var current = _groups[group];
        if (current.State == state) return false;
        _groups = _groups.SetItem(group, current with { State = state, StatusCode = statusCode });
        _allActive = _groups.Values.All(g => g.State.IsActive());
        return true;
    }

    private string Describe() => _groups.IsEmpty ? "none yet" : string.Join(", ", _groups.Keys);
}
