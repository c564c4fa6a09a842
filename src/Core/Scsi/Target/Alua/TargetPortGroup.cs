namespace Iser.Core.Scsi.Target.Alua;

/// <summary>
/// One target port group as REPORT TARGET PORT GROUPS shows it. Groups are the target's iSCSI portal groups: the group
/// identifier is the TPGT, and its one SCSI target port has the TPGT as relative target port identifier.
/// </summary>
/// <param name="StatusCode">Why the state last changed (SPC-4 §6.27): 0 none, 1 by SET TARGET PORT GROUPS, 2 implicitly.</param>
public readonly record struct TargetPortGroup(ushort Id, AluaState State, byte StatusCode)
{
    public const byte NoStatus = 0x00;
    public const byte AlteredBySetTargetPortGroups = 0x01;
    public const byte AlteredImplicitly = 0x02;

    /// <summary>The relative target port identifier of the group's one target port.</summary>
    public ushort RelativeTargetPortId => Id;
}
