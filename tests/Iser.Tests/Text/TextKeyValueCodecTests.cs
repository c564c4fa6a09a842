using System.Text;
using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Text;

public class TextKeyValueCodecTests
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void Encode_writes_key_equals_value_each_ended_by_a_zero_byte()
    {
        var bytes = TextKeyValueCodec.Encode(new TextKeyValue("InitiatorName", "iqn.2026-11.org.example:a"), new TextKeyValue("SessionType", "Normal"));
        Assert.Equal(Ascii("InitiatorName=iqn.2026-11.org.example:a\0SessionType=Normal\0"), bytes);
    }

    [Fact]
    public void Parse_keeps_wire_order_and_skips_padding_zeros()
    {
        var pairs = TextKeyValueCodec.Parse(Ascii("HeaderDigest=CRC32C,None\0MaxBurstLength=65536\0X-com.example.Foo=1\0\0\0"));
        Assert.Equal(new[] { new TextKeyValue("HeaderDigest", "CRC32C,None"), new TextKeyValue("MaxBurstLength", "65536"),
            new TextKeyValue("X-com.example.Foo", "1") }, pairs);
    }

    [Fact]
    public void Parse_accepts_empty_value_and_value_containing_equals()
    {
        var pairs = TextKeyValueCodec.Parse(Ascii("SendTargets=\0TargetAlias=a=b\0"));
        Assert.Equal("", pairs[0].Value);
        Assert.Equal("a=b", pairs[1].Value);
    }

    [Fact]
    public void Parse_roundtrips_utf8_values()
    {
        var encoded = TextKeyValueCodec.Encode(new TextKeyValue("TargetAlias", "Datenträger ü"));
        Assert.Equal("Datenträger ü", TextKeyValueCodec.Parse(encoded)[0].Value);
    }

    [Fact]
    public void Duplicate_key_is_an_error_sentence()
    {
        var e = Assert.Throws<TextFormatException>(() => TextKeyValueCodec.Parse(Ascii("MaxBurstLength=512\0MaxBurstLength=1024\0")));
        Assert.Contains("MaxBurstLength appears more than once", e.Message);
    }

    [Fact]
    public void Repeated_keys_are_allowed_when_asked_for_SendTargets_responses()
    {
        var pairs = TextKeyValueCodec.Parse(Ascii("TargetName=a\0TargetAddress=1.2.3.4:3260,1\0TargetName=b\0"), allowRepeatedKeys: true);
        Assert.Equal(3, pairs.Count);
    }

    [Fact]
    public void Pair_without_equals_is_an_error()
    {
        var e = Assert.Throws<TextFormatException>(() => TextKeyValueCodec.Parse(Ascii("InitialR2T\0")));
        Assert.Contains("no '='", e.Message);
    }

    [Theory]
    [InlineData("maxBurstLength", "capital letter")]
    [InlineData("Max Burst", "character ' '")]
    [InlineData("Max/Burst", "character '/'")]
    [InlineData("", "empty key name")]
    public void Malformed_key_names_are_refused(string key, string expected)
    {
        var e = Assert.Throws<TextFormatException>(() => TextKeyValueCodec.Parse(Ascii(key + "=1\0")));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Key_name_of_63_bytes_is_accepted_and_64_refused()
    {
        string ok = "K" + new string('a', 62);
        Assert.Single(TextKeyValueCodec.Parse(Ascii(ok + "=1\0")));
        var e = Assert.Throws<TextFormatException>(() => TextKeyValueCodec.Parse(Ascii(ok + "a=1\0")));
        Assert.Contains("longer than 63 bytes", e.Message);
    }

    [Fact]
    public void Value_over_8192_bytes_is_refused_on_parse_and_encode()
    {
        string big = new('v', 8193);
        Assert.Throws<TextFormatException>(() => TextKeyValueCodec.Parse(Ascii("X-big=" + big + "\0")));
        Assert.Throws<TextFormatException>(() => TextKeyValueCodec.Encode(new TextKeyValue("X-big", big)));
        Assert.Single(TextKeyValueCodec.Parse(Ascii("X-big=" + big[..8192] + "\0")));
    }

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        var bytes = new byte[] { (byte)'T', (byte)'a', (byte)'=', 0xff, 0xfe, 0 };
        var e = Assert.Throws<TextFormatException>(() => TextKeyValueCodec.Parse(bytes));
        Assert.Contains("not valid UTF-8", e.Message);
    }

    [Fact]
    public void Extension_keys_are_recognised()
    {
        Assert.True(TextKeyValueCodec.IsExtensionKey("X-com.example.Foo"));
        Assert.True(TextKeyValueCodec.IsExtensionKey("X#IANA"));
        Assert.False(TextKeyValueCodec.IsExtensionKey("MaxBurstLength"));
        Assert.Null(TextKeyValueCodec.ValidateKeyName("X#Reg"));
        Assert.NotNull(TextKeyValueCodec.ValidateKeyName("Ab#c"));
    }

    [Fact]
    public void Total_text_larger_than_the_limit_is_refused()
    {
        var bytes = TextKeyValueCodec.Encode(Enumerable.Range(0, 20).Select(i => new TextKeyValue($"X-k{i}", new string('x', 100))));
        Assert.False(TextKeyValueCodec.TryParse(bytes, out _, out var error, maxTextLength: 1000));
        Assert.Contains("at most 1000 bytes", error);
    }
}
