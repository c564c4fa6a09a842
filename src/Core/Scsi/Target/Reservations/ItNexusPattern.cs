namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// The set of I_T nexuses one registration stands for: one initiator port (name + ISID) or, when a TransportID named
/// only the initiator device (iSCSI format 00b), every port of that initiator; through one target port or, when
/// registered with ALL_TG_PT, through every target port. Unit attentions and PREEMPT AND ABORT are addressed with
/// these, because a registration may cover nexuses that are not logged in when the command runs.
/// </summary>
/// <param name="Isid">Null: any ISID of <paramref name="InitiatorName"/>.</param>
/// <param name="RelativeTargetPortId">Null: every target port (ALL_TG_PT).</param>
public readonly record struct ItNexusPattern(string InitiatorName, ulong? Isid, ushort? RelativeTargetPortId)
{
    /// <summary>Exactly one nexus.</summary>
    public static ItNexusPattern Of(in ItNexus nexus) => new(nexus.InitiatorName, nexus.Isid, nexus.RelativeTargetPortId);

    public bool AllTargetPorts => RelativeTargetPortId is null;

    public bool Covers(in ItNexus nexus) =>
        (Isid is not { } isid || isid == nexus.Isid)
        && (RelativeTargetPortId is not { } port || port == nexus.RelativeTargetPortId)
        && string.Equals(InitiatorName, nexus.InitiatorName, StringComparison.OrdinalIgnoreCase);

    /// <summary>Every nexus <paramref name="other"/> covers, this covers too.</summary>
    public bool Contains(in ItNexusPattern other) =>
        (Isid is not { } isid || isid == other.Isid)
        && (RelativeTargetPortId is not { } port || port == other.RelativeTargetPortId)
        && string.Equals(InitiatorName, other.InitiatorName, StringComparison.OrdinalIgnoreCase);

    /// <summary>Some nexus is covered by both (registering both would register it twice).</summary>
    public bool Overlaps(in ItNexusPattern other) =>
        (Isid is not { } a || other.Isid is not { } b || a == b)
        && (RelativeTargetPortId is not { } p || other.RelativeTargetPortId is not { } q || p == q)
        && string.Equals(InitiatorName, other.InitiatorName, StringComparison.OrdinalIgnoreCase);

    public bool Equals(ItNexusPattern other) =>
        Isid == other.Isid && RelativeTargetPortId == other.RelativeTargetPortId
        && string.Equals(InitiatorName, other.InitiatorName, StringComparison.OrdinalIgnoreCase);

    public override int GetHashCode() => HashCode.Combine(
        InitiatorName is null ? 0 : StringComparer.OrdinalIgnoreCase.GetHashCode(InitiatorName), Isid, RelativeTargetPortId);

    public override string ToString() =>
        (Isid is { } isid ? $"{InitiatorName},i,0x{isid:x12}" : $"{InitiatorName} (any ISID)")
        + (RelativeTargetPortId is { } port ? $" via RTPI {port}" : " via all target ports");
}
