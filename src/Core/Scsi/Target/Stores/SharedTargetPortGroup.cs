using Iser.Core.Scsi.Target.Alua;

namespace Iser.Core.Scsi.Target.Stores;

/// <summary>A target port group another target of the medium published, and whether that target is still there.</summary>
public readonly record struct SharedTargetPortGroup(TargetPortGroup Group, bool TargetPresent);
