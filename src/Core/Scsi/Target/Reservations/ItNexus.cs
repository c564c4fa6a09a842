namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// An I_T nexus as persistent reservations see it (SAM-5 §4.6, SPC-4 §5.13): the iSCSI initiator port (initiator
/// name + ISID), the target port (target name + TPGT) and the relative target port identifier the target gives that
/// target port (READ FULL STATUS reports it, REGISTER AND MOVE names a destination by it).
/// </summary>
/// <remarks>
/// Names compare without regard to case: RFC 3722 folds iSCSI names to lower case, but not every initiator sends
/// them folded, and two spellings of one name must not become two registrations.
/// </remarks>
public readonly record struct ItNexus
{
    /// <summary>The largest ISID (48 bits, RFC 7143 §11.12.5).</summary>
    public const ulong MaxIsid = 0xFFFF_FFFF_FFFF;

    public ItNexus(string initiatorName, ulong isid, string targetName, ushort tpgt, ushort relativeTargetPortId)
    {
        ArgumentException.ThrowIfNullOrEmpty(initiatorName);
        ArgumentException.ThrowIfNullOrEmpty(targetName);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(isid, MaxIsid);
        // Relative port identifier 0 is reserved (SPC-4 §7.8.6.5): every real target port has a nonzero one.
        ArgumentOutOfRangeException.ThrowIfZero(relativeTargetPortId);
        InitiatorName = initiatorName;
        Isid = isid;
        TargetName = targetName;
        Tpgt = tpgt;
        RelativeTargetPortId = relativeTargetPortId;
    }

    public string InitiatorName { get; }
    public ulong Isid { get; }
    public string TargetName { get; }
    public ushort Tpgt { get; }
    public ushort RelativeTargetPortId { get; }

    /// <summary>The initiator port name (SPC-4 §7.6.4.6): <c>name,i,0x</c> + the ISID as 12 hex digits.</summary>
    public string InitiatorPortName => $"{InitiatorName},i,0x{Isid:x12}";

    /// <summary>The target port name: <c>name,t,0x</c> + the TPGT as 4 hex digits.</summary>
    public string TargetPortName => $"{TargetName},t,0x{Tpgt:x4}";

    public bool Equals(ItNexus other) =>
        Isid == other.Isid && Tpgt == other.Tpgt && RelativeTargetPortId == other.RelativeTargetPortId
        && string.Equals(InitiatorName, other.InitiatorName, StringComparison.OrdinalIgnoreCase)
        && string.Equals(TargetName, other.TargetName, StringComparison.OrdinalIgnoreCase);

    public override int GetHashCode() => HashCode.Combine(
        InitiatorName is null ? 0 : StringComparer.OrdinalIgnoreCase.GetHashCode(InitiatorName), Isid, RelativeTargetPortId);

    public override string ToString() => $"{InitiatorPortName} -> {TargetPortName} (RTPI {RelativeTargetPortId})";
}
