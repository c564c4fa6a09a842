namespace Iser.Core.Scsi.Initiator;

/// <summary>ASSOCIATION of a device identification descriptor: what the designator names.</summary>
public enum DesignatorAssociation : byte
{
    LogicalUnit = 0,
    TargetPort = 1,
    TargetDevice = 2,
}
