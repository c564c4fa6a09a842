using System.Text;
using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>PERSISTENT RESERVE IN data (SPC-4 §6.15.2-§6.15.5), byte by byte.</summary>
public class PersistentReserveInReportTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    [Fact]
    public void Read_keys_lists_generation_length_and_every_key()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x0102030405060708));
        AssertGood(s.Register(B, 0x1112131415161718));
        Assert.Equal(Hex("00000002 00000010 0102030405060708 1112131415161718"), In(s, PrInServiceAction.ReadKeys));
    }

    [Fact]
    public void Read_keys_with_nothing_registered_is_eight_bytes()
    {
        Assert.Equal(Hex("00000000 00000000"), In(new PersistentReservations(), PrInServiceAction.ReadKeys));
    }

    [Fact]
    public void Read_reservation_without_a_reservation_has_additional_length_zero()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        Assert.Equal(Hex("00000001 00000000"), In(s, PrInServiceAction.ReadReservation));
    }

    [Fact]
    public void Read_reservation_reports_the_holders_key_scope_and_type()
    {
        var s = Reserved(PrType.WriteExclusiveRegistrantsOnly, B, (A, 0xA1), (B, 0x00000000DEADBEEF));
        Assert.Equal(Hex("00000002 00000010 00000000DEADBEEF 00000000 00 05 0000"), In(s, PrInServiceAction.ReadReservation));
    }

    [Fact]
    public void Read_reservation_under_all_registrants_reports_key_zero()
    {
        var s = Reserved(PrType.ExclusiveAccessAllRegistrants, A, (A, 0xA1));
        Assert.Equal(Hex("00000001 00000010 0000000000000000 00000000 00 08 0000"), In(s, PrInServiceAction.ReadReservation));
    }

    [Fact]
    public void Report_capabilities_announces_what_is_supported()
    {
        var s = new PersistentReservations();
        // LENGTH 8; CRH 0, SIP_C, ATP_C, PTPL_C; TMV, ALLOW COMMANDS 011b, PTPL_A 0; WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX; EX_AC_AR.
        Assert.Equal(Hex("0008 0D B0 EA 01 0000"), In(s, PrInServiceAction.ReportCapabilities));
        AssertGood(s.Register(A, 0xA1, aptpl: true));
        Assert.Equal(Hex("0008 0D B1 EA 01 0000"), In(s, PrInServiceAction.ReportCapabilities));
    }

    [Fact]
    public void Read_full_status_describes_every_registration_with_its_transport_id()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1));
        AssertGood(s.Register(B, 0xB2, allTargetPorts: true));
        AssertGood(s.Reserve(A, 0xA1, PrType.ExclusiveAccess));

        var expected = new List<byte>();
        expected.AddRange(Hex("00000002 00000098")); // generation 2, 2 x (24 + 52) bytes
        expected.AddRange(Hex("00000000000000A1 00000000 01 03 00000000 0001 00000034"));   // R_HOLDER, LU scope / EA, RTPI 1
        expected.AddRange(Hex("45 00 0030"));                                                 // format 01b iSCSI, 48 more bytes
        expected.AddRange(Encoding.ASCII.GetBytes("iqn.1994-05.com.redhat:alpha,i,0x00023d000001"));
        expected.AddRange(Hex("000000"));                                                     // terminator and padding
        expected.AddRange(Hex("00000000000000B2 00000000 02 00 00000000 0000 00000034"));   // ALL_TG_PT, not holding
        expected.AddRange(Hex("45 00 0030"));
        expected.AddRange(Encoding.ASCII.GetBytes("iqn.1994-05.com.redhat:bravo,i,0x00023d000002"));
        expected.AddRange(Hex("000000"));
        Assert.Equal(expected.ToArray(), In(s, PrInServiceAction.ReadFullStatus));
    }

    [Fact]
    public void Read_full_status_marks_every_registrant_as_holder_under_all_registrants()
    {
        var s = Reserved(PrType.WriteExclusiveAllRegistrants, A, (A, 0xA1), (B, 0xB2));
        var d = In(s, PrInServiceAction.ReadFullStatus);
        Assert.Equal(0x01, d[8 + 12]);
        Assert.Equal(0x07, d[8 + 13]);
        Assert.Equal(0x01, d[8 + 76 + 12]);
        Assert.Equal(0x07, d[8 + 76 + 13]);
    }

    [Fact]
    public void A_device_wide_registration_is_reported_with_a_format_00_transport_id()
    {
        var s = new PersistentReservations();
        var p = Keys(0, 0xC3) with { SpecifyInitiatorPorts = true, TransportIds = [new IscsiTransportId("iqn.x", null)] };
        AssertGood(s.Out(A, PrOutServiceAction.Register, PrType.None, p));
        var d = In(s, PrInServiceAction.ReadFullStatus);
        var second = d.AsSpan(8 + 76);
        // Name, terminator, padding up to the 20-byte minimum.
        var expected = Hex("00000000000000C3 00000000 00 00 00000000 0001 00000018 05 00 0014")
            .Concat(Encoding.ASCII.GetBytes("iqn.x")).Concat(new byte[15]).ToArray();
        Assert.Equal(expected, second.ToArray());
    }

    [Fact]
    public void A_short_allocation_length_cuts_the_data_but_not_the_length_field()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0x0102030405060708));
        AssertGood(s.Register(B, 0x1112131415161718));
        var buffer = new byte[64];
        buffer.AsSpan().Fill(0xEE);
        Assert.Equal(10, s.In(PrInServiceAction.ReadKeys, buffer, 10));
        Assert.Equal(Hex("00000002 00000010 0102"), buffer[..10]);
        Assert.Equal(0xEE, buffer[10]);
        Assert.Equal(0, s.In(PrInServiceAction.ReadFullStatus, buffer, 0));
    }

    [Fact]
    public void Reserved_bytes_are_zeroed_whatever_the_buffer_held()
    {
        var s = Reserved(PrType.WriteExclusive, A, (A, 0xA1));
        var buffer = new byte[256];
        buffer.AsSpan().Fill(0xFF);
        int n = s.In(PrInServiceAction.ReadFullStatus, buffer, buffer.Length);
        var clean = In(s, PrInServiceAction.ReadFullStatus);
        Assert.Equal(clean, buffer[..n]);
    }
}
