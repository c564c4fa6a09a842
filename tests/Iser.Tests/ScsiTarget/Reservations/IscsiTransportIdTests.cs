using System.Text;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>iSCSI TransportIDs (SPC-4 §7.6.4.6): encoding and the checks on decoding.</summary>
public class IscsiTransportIdTests
{
    private static byte[] Encode(IscsiTransportId id)
    {
        var buffer = new byte[id.EncodedLength];
        Assert.Equal(buffer.Length, id.WriteTo(buffer));
        return buffer;
    }

    private static byte[] Raw(byte format, string text, int additionalLength)
    {
        var b = new byte[4 + additionalLength];
        b[0] = (byte)(format << 6 | 0x05);
        b[2] = (byte)(additionalLength >> 8);
        b[3] = (byte)additionalLength;
        Encoding.ASCII.GetBytes(text).CopyTo(b, 4);
        return b;
    }

    [Fact]
    public void Port_format_is_name_separator_isid_terminator_and_padding()
    {
        var bytes = Encode(new IscsiTransportId("iqn.2001-04.com.example:host", 0x400001370000));
        var text = "iqn.2001-04.com.example:host,i,0x400001370000"; // 45 bytes, + NUL = 46, padded to 48
        Assert.Equal(new byte[] { 0x45, 0x00, 0x00, 48 }, bytes[..4]);
        Assert.Equal(Encoding.ASCII.GetBytes(text), bytes[4..(4 + text.Length)]);
        Assert.Equal(new byte[3], bytes[(4 + text.Length)..]);
        Assert.Equal(52, bytes.Length);
    }

    [Fact]
    public void Device_format_has_the_name_alone_and_at_least_twenty_bytes()
    {
        var bytes = Encode(new IscsiTransportId("iqn.a", null));
        Assert.Equal(24, bytes.Length);
        Assert.Equal(new byte[] { 0x05, 0x00, 0x00, 20 }, bytes[..4]);
        Assert.Equal("iqn.a"u8.ToArray(), bytes[4..9]);
        Assert.All(bytes[9..], b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData("iqn.2001-04.com.example:host", 0x400001370000UL)]
    [InlineData("eui.02004567A425678D", 0x000000000001UL)]
    [InlineData("iqn.2001-04.com.example:ünïcode", null)]
    public void Decoding_what_was_encoded_gives_it_back(string name, ulong? isid)
    {
        var id = new IscsiTransportId(name, isid);
        var bytes = Encode(id);
        Assert.True(IscsiTransportId.TryDecode(bytes, out var back, out int length, out _));
        Assert.Equal(id, back);
        Assert.Equal(bytes.Length, length);
    }

    [Fact]
    public void Isid_hex_digits_are_read_in_either_case()
    {
        Assert.True(IscsiTransportId.TryDecode(Raw(1, "iqn.a,i,0x00023D00ABCD", 24), out var id, out _, out _));
        Assert.Equal(0x00023D00ABCDUL, id.Isid);
    }

    [Theory]
    [InlineData(0x04, 0)]  // protocol identifier 4 (SRP), not iSCSI
    [InlineData(0x85, 0)]  // format 10b
    public void Another_protocol_or_format_points_at_byte_zero(byte first, int expectedOffset)
    {
        var b = Raw(0, "iqn.a", 20);
        b[0] = first;
        Assert.False(IscsiTransportId.TryDecode(b, out _, out _, out int offset));
        Assert.Equal(expectedOffset, offset);
    }

    [Theory]
    [InlineData(18)] // less than 20
    [InlineData(22)] // not a multiple of 4
    [InlineData(28)] // longer than the data
    public void A_bad_additional_length_points_at_it(int additionalLength)
    {
        var b = Raw(0, "iqn.a", 24);
        b[3] = (byte)additionalLength;
        Assert.False(IscsiTransportId.TryDecode(b, out _, out _, out int offset));
        Assert.Equal(2, offset);
    }

    [Fact]
    public void A_name_without_terminator_is_refused()
    {
        var b = Raw(0, new string('a', 20), 20);
        Assert.False(IscsiTransportId.TryDecode(b, out _, out _, out int offset));
        Assert.Equal(4, offset);
    }

    [Theory]
    [InlineData("iqn.a,i,0x12345", 4 + 10)]        // too few digits
    [InlineData("iqn.a,i,0x12345678901g", 4 + 10)] // not hex
    [InlineData("iqn.a:0x123456789012", 4)]         // no separator
    public void A_bad_initiator_port_points_at_the_faulty_part(string text, int expectedOffset)
    {
        Assert.False(IscsiTransportId.TryDecode(Raw(1, text, 24), out _, out _, out int offset));
        Assert.Equal(expectedOffset, offset);
    }

    [Fact]
    public void A_separator_in_the_device_format_is_refused()
    {
        Assert.False(IscsiTransportId.TryDecode(Raw(0, "iqn.a,i,0x123456789012", 24), out _, out _, out _));
    }

    [Fact]
    public void An_empty_name_is_refused()
    {
        Assert.False(IscsiTransportId.TryDecode(Raw(0, "", 20), out _, out _, out _));
    }
}
