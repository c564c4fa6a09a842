using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>The PERSISTENT RESERVE OUT parameter list (SPC-4 §6.16.3, §6.16.4).</summary>
public class PrOutParameterParserTests
{
    private static byte[] Basic(ulong key, ulong saKey, byte flags)
    {
        var b = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(b, key);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), saKey);
        b[20] = flags;
        return b;
    }

    private static byte[] Id(IscsiTransportId id)
    {
        var b = new byte[id.EncodedLength];
        id.WriteTo(b);
        return b;
    }

    private static byte[] WithTransportIds(byte[] basic, params byte[][] ids)
    {
        int length = ids.Sum(i => i.Length);
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)length);
        return [.. basic, .. header, .. ids.SelectMany(i => i)];
    }

    private static PrOutParameters Parse(byte[] list, PrOutServiceAction action)
    {
        Assert.True(PrOutParameterParser.TryParse(list, action, out var p, out var error), $"refused: {error}");
        return p;
    }

    private static PrOutcome Refuse(byte[] list, PrOutServiceAction action)
    {
        Assert.False(PrOutParameterParser.TryParse(list, action, out _, out var error));
        return error;
    }

    [Fact]
    public void The_basic_list_gives_keys_and_flags()
    {
        var p = Parse(Basic(0x0102030405060708, 0x1112131415161718, 0x05), PrOutServiceAction.Register);
        Assert.Equal(0x0102030405060708UL, p.ReservationKey);
        Assert.Equal(0x1112131415161718UL, p.ServiceActionReservationKey);
        Assert.True(p.AllTargetPorts);
        Assert.True(p.ActivatePersistThroughPowerLoss);
        Assert.False(p.SpecifyInitiatorPorts);
        Assert.Empty(p.TransportIds);
    }

    [Theory]
    [InlineData(PrOutServiceAction.Reserve)]
    [InlineData(PrOutServiceAction.Release)]
    [InlineData(PrOutServiceAction.Clear)]
    [InlineData(PrOutServiceAction.Preempt)]
    public void All_tg_pt_and_aptpl_are_ignored_outside_the_register_family(PrOutServiceAction action)
    {
        var p = Parse(Basic(1, 2, 0x05), action);
        Assert.False(p.AllTargetPorts);
        Assert.False(p.ActivatePersistThroughPowerLoss);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(23)]
    [InlineData(25)]
    [InlineData(28)]
    public void Without_spec_i_pt_a_length_other_than_24_is_a_parameter_list_length_error(int length)
    {
        var list = new byte[length];
        AssertParameterListLengthError(Refuse(list, PrOutServiceAction.Register));
    }

    [Theory]
    [InlineData(PrOutServiceAction.RegisterAndIgnoreExistingKey)]
    [InlineData(PrOutServiceAction.Reserve)]
    [InlineData(PrOutServiceAction.Preempt)]
    public void Spec_i_pt_outside_register_is_an_invalid_field_at_byte_20_bit_3(PrOutServiceAction action)
    {
        AssertInvalidFieldInParameterList(Refuse(Basic(0, 1, 0x08), action), 20, 3);
    }

    [Fact]
    public void Spec_i_pt_brings_the_transport_id_list()
    {
        var b = new IscsiTransportId("iqn.1994-05.com.redhat:bravo", 0x23d000002);
        var c = new IscsiTransportId("iqn.1994-05.com.redhat:charlie", null);
        var p = Parse(WithTransportIds(Basic(0, 0x77, 0x08), Id(b), Id(c)), PrOutServiceAction.Register);
        Assert.True(p.SpecifyInitiatorPorts);
        Assert.Equal([b, c], p.TransportIds);
    }

    [Fact]
    public void A_transport_id_list_length_not_matching_the_parameter_list_is_a_length_error()
    {
        var list = WithTransportIds(Basic(0, 0x77, 0x08), Id(new IscsiTransportId("iqn.b", null)));
        BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(24), 28);
        AssertParameterListLengthError(Refuse(list, PrOutServiceAction.Register));
        AssertParameterListLengthError(Refuse(Basic(0, 0x77, 0x08), PrOutServiceAction.Register)); // no length field at all
    }

    [Fact]
    public void A_bad_transport_id_points_at_its_faulty_byte_in_the_list()
    {
        var good = Id(new IscsiTransportId("iqn.b", null));
        var bad = Id(new IscsiTransportId("iqn.c", null));
        bad[0] = 0x04; // not iSCSI
        var list = WithTransportIds(Basic(0, 0x77, 0x08), good, bad);
        AssertInvalidFieldInParameterList(Refuse(list, PrOutServiceAction.Register), 28 + good.Length);
    }

    [Fact]
    public void A_transport_id_running_past_the_list_is_an_invalid_field()
    {
        var id = Id(new IscsiTransportId("iqn.b", null));
        var list = WithTransportIds(Basic(0, 0x77, 0x08), id[..^4]);
        AssertInvalidFieldInParameterList(Refuse(list, PrOutServiceAction.Register), 28 + 2); // its ADDITIONAL LENGTH
    }

    [Fact]
    public void An_empty_spec_i_pt_list_is_an_invalid_field()
    {
        AssertInvalidFieldInParameterList(Refuse(WithTransportIds(Basic(0, 0x77, 0x08)), PrOutServiceAction.Register), 24);
    }

    private static byte[] MoveList(ulong key, ulong saKey, byte flags, ushort port, byte[] id, int? declaredLength = null)
    {
        var b = new byte[24 + id.Length];
        BinaryPrimitives.WriteUInt64BigEndian(b, key);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), saKey);
        b[17] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(18), port);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(20), (uint)(declaredLength ?? id.Length));
        id.CopyTo(b, 24);
        return b;
    }

    [Fact]
    public void Register_and_move_has_its_own_layout()
    {
        var to = new IscsiTransportId("iqn.1994-05.com.redhat:charlie", 0x23d000003);
        var p = Parse(MoveList(0xA1, 0xC3, 0x03, 0x0102, Id(to)), PrOutServiceAction.RegisterAndMove);
        Assert.Equal(0xA1UL, p.ReservationKey);
        Assert.Equal(0xC3UL, p.ServiceActionReservationKey);
        Assert.True(p.Unregister);
        Assert.True(p.ActivatePersistThroughPowerLoss);
        Assert.Equal(0x0102, p.RelativeTargetPortId);
        Assert.Equal([to], p.TransportIds);
    }

    [Fact]
    public void Register_and_move_with_a_mismatched_transport_id_length_is_refused()
    {
        var id = Id(new IscsiTransportId("iqn.c", null));
        AssertParameterListLengthError(Refuse(MoveList(1, 2, 0, 1, id, declaredLength: id.Length + 4), PrOutServiceAction.RegisterAndMove));
        AssertParameterListLengthError(Refuse(new byte[20], PrOutServiceAction.RegisterAndMove));
        // Room for two TransportIDs, the length field covering both: REGISTER AND MOVE takes exactly one.
        AssertInvalidFieldInParameterList(Refuse(MoveList(1, 2, 0, 1, [.. id, .. id]), PrOutServiceAction.RegisterAndMove), 20);
    }
}
