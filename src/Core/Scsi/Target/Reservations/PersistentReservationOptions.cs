namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>Limits and target facts the reservation state of one logical unit needs.</summary>
public sealed record PersistentReservationOptions
{
    public const int DefaultMaxRegistrations = 256;

    /// <summary>
    /// Registrations held at most; one more is INSUFFICIENT REGISTRATION RESOURCES. Bounds memory and keeps
    /// READ FULL STATUS within the 64 KiB a PERSISTENT RESERVE IN can return.
    /// </summary>
    public int MaxRegistrations { get; init; } = DefaultMaxRegistrations;

    /// <summary>
    /// Whether a relative target port identifier names a target port of this target (the destination of a REGISTER
    /// AND MOVE). Null: any nonzero identifier is taken.
    /// </summary>
    public Func<ushort, bool>? TargetPortExists { get; init; }

    /// <summary>
    /// Whether the device server can persist through power loss (PTPL_C in REPORT CAPABILITIES). When false, a
    /// REGISTER-family command with APTPL 1 is INVALID FIELD IN PARAMETER LIST (SPC-4 §6.16.3) and changes nothing.
    /// </summary>
    public bool PersistThroughPowerLossCapable { get; init; } = true;
}
