namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>The sense conditions persistent reservations report that <see cref="SenseCondition"/> does not list (SPC-4 §4.5.6).</summary>
public static class PrSense
{
    public const byte KeyUnitAttention = 0x06;

    /// <summary>RELEASE by the holder naming another type or scope than the reservation's.</summary>
    public static SenseCondition InvalidReleaseOfPersistentReservation => new(SenseCondition.KeyIllegalRequest, 0x26, 0x04);

    /// <summary>A registration the device server has no room for.</summary>
    public static SenseCondition InsufficientRegistrationResources => new(SenseCondition.KeyIllegalRequest, 0x55, 0x04);

    public static SenseCondition ReservationsPreempted => new(KeyUnitAttention, 0x2A, 0x03);
    public static SenseCondition ReservationsReleased => new(KeyUnitAttention, 0x2A, 0x04);
    public static SenseCondition RegistrationsPreempted => new(KeyUnitAttention, 0x2A, 0x05);
}
