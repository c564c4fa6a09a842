namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// The PERSISTENT RESERVE OUT parameter list, decoded (SPC-4 §6.16.3 basic list, §6.16.4 REGISTER AND MOVE list).
/// Fields a service action ignores are left at their defaults by <see cref="PrOutParameterParser"/>.
/// </summary>
public readonly struct PrOutParameters
{
    private readonly IReadOnlyList<IscsiTransportId>? _transportIds;

    public ulong ReservationKey { get; init; }
    public ulong ServiceActionReservationKey { get; init; }

    /// <summary>SPEC_I_PT: also register the initiator ports in <see cref="TransportIds"/> (REGISTER only).</summary>
    public bool SpecifyInitiatorPorts { get; init; }

    /// <summary>ALL_TG_PT: register through every target port (REGISTER, REGISTER AND IGNORE EXISTING KEY).</summary>
    public bool AllTargetPorts { get; init; }

    /// <summary>APTPL: keep registrations and the reservation across power loss (the REGISTER family).</summary>
    public bool ActivatePersistThroughPowerLoss { get; init; }

    /// <summary>REGISTER AND MOVE's UNREG: unregister the nexus the command came through once the reservation moved.</summary>
    public bool Unregister { get; init; }

    /// <summary>REGISTER AND MOVE: the target port of the destination nexus.</summary>
    public ushort RelativeTargetPortId { get; init; }

    /// <summary>SPEC_I_PT's initiator ports, or REGISTER AND MOVE's destination (exactly one).</summary>
    public IReadOnlyList<IscsiTransportId> TransportIds { get => _transportIds ?? []; init => _transportIds = value; }
}
