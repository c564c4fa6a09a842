using System.Collections.Immutable;
using Iser.Core.Iscsi.Login;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Iscsi.Target;

/// <summary>One iSCSI target (an IQN) with its logical units, access list and CHAP secrets.</summary>
public sealed class TargetNode
{
    // Replaced whole on a change, so commands look LUNs up without a lock while a running target adds or removes one.
    private volatile ImmutableSortedDictionary<int, ILogicalUnit> _luns = ImmutableSortedDictionary<int, ILogicalUnit>.Empty;
    private readonly object _lunGate = new();

    public TargetNode(string iqn) => Iqn = iqn;

    public string Iqn { get; }
    public string? Alias { get; init; }
    /// <summary>Initiator names allowed to log in; empty means everyone.</summary>
    public List<string> AllowedInitiators { get; } = new();
    /// <summary>When set the initiator must authenticate with CHAP using these credentials.</summary>
    public ChapCredentials? InitiatorChap { get; set; }
    /// <summary>When set the target answers a mutual CHAP challenge with these credentials.</summary>
    public ChapCredentials? TargetChap { get; set; }
    /// <summary>CHAP algorithms accepted from initiators (null: every one supported here); leave MD5 out to refuse it.</summary>
    public IReadOnlyList<ChapAlgorithm>? ChapAlgorithms { get; set; }

    public IReadOnlyDictionary<int, ILogicalUnit> Luns => _luns;

    /// <summary>The target this node was added to (null before): each unit added is attached to it.</summary>
    internal ILogicalUnitHost? Host { get; set; }

    /// <summary>
    /// Adds a logical unit, also to a running target: the units already here then report REPORTED LUNS DATA HAS CHANGED
    /// to every nexus that used them (SPC-4 §5.14), so initiators rescan.
    /// </summary>
    public void AddLun(int lun, ILogicalUnit unit)
    {
        ArgumentNullException.ThrowIfNull(unit);
        ImmutableSortedDictionary<int, ILogicalUnit> before;
        lock (_lunGate)
        {
            before = _luns;
            if (before.ContainsKey(lun)) throw new ArgumentException($"LUN {lun} already exists on {Iqn}.");
            _luns = before.Add(lun, unit);
        }
        foreach (var other in before.Values) other.OnLunInventoryChanged();
        if (Host is { } host) unit.AttachHost(host);
        // The unit's nexus-loss path runs once now, for a nexus that holds nothing, so it is compiled before a real loss
        // has to be fast (see TargetConnection.ReleaseNexusAtPeerClose): cold, it took 13-24 ms on this project's CI.
        unit.OnNexusLoss(new ItNexus("iqn.invalid:nexus-loss-warm-up", 0, Iqn, 0, 1));
    }

    /// <summary>
    /// Removes a logical unit (the caller disposes it once its commands are done); the units that remain report REPORTED
    /// LUNS DATA HAS CHANGED. Null when there is no such LUN.
    /// </summary>
    public ILogicalUnit? RemoveLun(int lun)
    {
        ILogicalUnit? removed;
        ImmutableSortedDictionary<int, ILogicalUnit> after;
        lock (_lunGate)
        {
            if (!_luns.TryGetValue(lun, out removed)) return null;
            _luns = after = _luns.Remove(lun);
        }
        foreach (var other in after.Values) other.OnLunInventoryChanged();
        return removed;
    }

    public ILogicalUnit? FindLun(ulong lunField)
    {
        return LunAddressing.TryDecode(lunField, out int lun) && _luns.TryGetValue(lun, out var unit) ? unit : null;
    }

    public bool Allows(string initiatorName)
    {
        lock (AllowedInitiators)
            return AllowedInitiators.Count == 0 || AllowedInitiators.Exists(a => string.Equals(a, initiatorName, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Replaces the access list of a running target (a configuration reload) in one step, so a login never sees half of
    /// it. Sessions already logged in are not touched here: <see cref="IscsiTarget.CloseSessionsNotAllowedAsync"/> ends
    /// the ones the new list refuses.
    /// </summary>
    public void SetAllowedInitiators(IEnumerable<string> initiatorNames)
    {
        var names = initiatorNames.ToList();
        lock (AllowedInitiators)
        {
            AllowedInitiators.Clear();
            AllowedInitiators.AddRange(names);
        }
    }
}
