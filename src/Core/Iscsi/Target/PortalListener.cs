using Iser.Core.Datamover;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// A listener the target accepts connections on and the portal group it belongs to: a connection's target portal group
/// tag is its listener's (login's TargetPortalGroupTag, the I_T nexus, SendTargets), and so is its SCSI target port
/// (relative target port identifier = TPGT) and ALUA target port group.
/// </summary>
public sealed record PortalListener(IDatamoverListener Listener, ushort PortalGroupTag);
