using Iser.Core.Iscsi.Login;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;

namespace Iser.Core.Iscsi.Target;

/// <summary>One iSCSI target (an IQN) with its logical units, access list and CHAP secrets.</summary>
public sealed class TargetNode
{
    private readonly SortedDictionary<int, ILogicalUnit> _luns = new();

    public TargetNode(string iqn) => Iqn = iqn;

    public string Iqn { get; }
    public string? Alias { get; init; }
    /// <summary>Initiator names allowed to log in; empty means everyone.</summary>
    public List<string> AllowedInitiators { get; } = new();
    /// <summary>When set the initiator must authenticate with CHAP using these credentials.</summary>
    public ChapCredentials? InitiatorChap { get; set; }
    /// <summary>When set the target answers a mutual CHAP challenge with these credentials.</summary>
    public ChapCredentials? TargetChap { get; set; }
    /// <summary>Target portal group tag announced at login and in SendTargets.</summary>
    public ushort PortalGroupTag { get; init; } = 1;

    public IReadOnlyDictionary<int, ILogicalUnit> Luns => _luns;

    public void AddLun(int lun, ILogicalUnit unit)
    {
        if (!_luns.TryAdd(lun, unit)) throw new ArgumentException($"LUN {lun} already exists on {Iqn}.");
    }

    public ILogicalUnit? FindLun(ulong lunField)
    {
        return LunAddressing.TryDecode(lunField, out int lun) && _luns.TryGetValue(lun, out var unit) ? unit : null;
    }

    public bool Allows(string initiatorName) =>
        AllowedInitiators.Count == 0 || AllowedInitiators.Exists(a => string.Equals(a, initiatorName, StringComparison.OrdinalIgnoreCase));
}
