using Iser.Core.Scsi;
using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>The I_T nexus names (SPC-4 §7.6.4.6, RFC 7143 §4.2.7) and the sense data reservation errors produce.</summary>
public class ItNexusTests
{
    [Fact]
    public void Port_names_carry_the_isid_as_12_and_the_tpgt_as_4_hex_digits()
    {
        var n = new ItNexus("iqn.1994-05.com.redhat:alpha", 0x23d000001, "iqn.2025-01.org.iser:disk", 0x12, 3);
        Assert.Equal("iqn.1994-05.com.redhat:alpha,i,0x00023d000001", n.InitiatorPortName);
        Assert.Equal("iqn.2025-01.org.iser:disk,t,0x0012", n.TargetPortName);
    }

    [Fact]
    public void Names_compare_without_regard_to_case()
    {
        var upper = new ItNexus(A.InitiatorName.ToUpperInvariant(), A.Isid, A.TargetName.ToUpperInvariant(), A.Tpgt, A.RelativeTargetPortId);
        Assert.Equal(A, upper);
        Assert.Equal(A.GetHashCode(), upper.GetHashCode());
        Assert.NotEqual(A, A2);
    }

    [Fact]
    public void Isid_beyond_48_bits_and_relative_port_zero_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ItNexus("iqn.a", 1UL << 48, "iqn.t", 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ItNexus("iqn.a", 1, "iqn.t", 1, 0));
    }

    [Fact]
    public void Invalid_release_sense_is_fixed_format_illegal_request_26h_04h()
    {
        var s = Reserved(PrType.ExclusiveAccess, A, (A, 0xA1));
        var sense = s.Release(A, 0xA1, PrType.WriteExclusive).BuildSense();
        Assert.Equal(18, sense.Length);
        Assert.Equal(0x70, sense[0]);
        Assert.Equal(0x05, sense[2]);
        Assert.Equal((0x26, 0x04), (sense[12], sense[13]));
        Assert.Equal(0, sense[15]); // no field pointer
    }

    [Fact]
    public void Invalid_field_in_the_parameter_list_points_at_byte_and_bit()
    {
        var o = PrOutcome.InvalidFieldInParameterList(20, 3);
        var sense = o.BuildSense();
        Assert.Equal((0x05, 0x26, 0x00), (sense[2], sense[12], sense[13]));
        Assert.Equal(0x80 | 0x08 | 3, sense[15]); // SKSV, C/D 0 (parameter list), BPV, bit 3
        Assert.Equal(new byte[] { 0, 20 }, sense[16..18]);
    }

    [Fact]
    public void A_reservation_conflict_becomes_status_18h_without_sense()
    {
        var r = PrOutcome.ReservationConflict.ToCommandResult(dataOutLength: 24);
        Assert.Equal(ScsiStatus.ReservationConflict, r.Status);
        Assert.Equal((byte)0x18, (byte)r.Status);
        Assert.True(r.Sense.IsEmpty);
        Assert.Equal(24, r.DataOutLength);
    }
}
