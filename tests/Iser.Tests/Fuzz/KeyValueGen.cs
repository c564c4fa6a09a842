using CsCheck;
using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Fuzz;

/// <summary>iSCSI text as a peer might send it: every key the code knows, extension and malformed names, and values
/// from the RFC's vocabulary, numbers at and past their limits, binary constants, and junk.</summary>
internal static class KeyValueGen
{
    public static readonly string[] KnownKeys = typeof(KeyNames).GetFields()
        .Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!).ToArray();

    private const string NameChars = "ABCXYZabcxyz0189_=#.@-+ \u00e9";
    private const string ValueChars = "ABCabc019,=.:[]@ \u00e9\u4e2d";

    private static readonly string[] OtherKeys = ["X-com.example.Flag", "X#1", "Foo", "Z9", "A.b-c+d@e_f", new string('K', 63)];

    private static readonly string[] Values =
    [
        "", "None", "CRC32C", "CRC32C,None", "None,CRC32C", "Yes", "No", "Normal", "Discovery", "CHAP", "CHAP,None", "None,CHAP",
        "KRB5,SRP,CHAP", "5", "5,7", "7", "0", "1", "2", "3", "255", "256", "512", "8192", "65535", "65536", "262144",
        "16777215", "16777216", "4294967295", "4294967296", "18446744073709551616", "-1", "+1", "1.5", "0x", "0b", "0x0",
        "0xZZ", "0x00ff", "0bAAAA", "0b====", "0b@@@@", "Irrelevant", "Reject", "NotUnderstood", "All",
        "iqn.2026-11.org.example:disk1", "iqn.2026-11.org.example:host1", "eui.0123456789ABCDEF", "10.0.0.1:3260,1",
        "[::1]:3260,1", ",", ",,", "CRC32C,", "Yes,No", "0x" + new string('f', 40), "0x" + new string('1', 2049),
    ];

    public static readonly Gen<string> Key = Gen.Frequency(
        (8, Gen.OneOf(KnownKeys)),
        (1, Gen.OneOf(OtherKeys)),
        (1, Gen.Char[NameChars].Array[0, 70].Select(c => new string(c))));

    public static readonly Gen<string> Value = Gen.Frequency(
        (8, Gen.OneOf(Values)),
        (1, Gen.UInt.Select(n => n.ToString())),
        (1, Gen.Char[ValueChars].Array[0, 40].Select(c => new string(c))),
        (1, Gen.Byte.Array[0, 40].Select(b => BinaryValue.EncodeHex(b))),
        (1, Gen.Byte.Array[0, 40].Select(b => BinaryValue.EncodeBase64(b))));

    public static readonly Gen<TextKeyValue> Pair = Gen.Select(Key, Value, (k, v) => new TextKeyValue(k, v));

    /// <summary>Pairs encoded with the codec's own encoder where it accepts them (a malformed key is skipped).</summary>
    public static byte[] Encode(IEnumerable<TextKeyValue> pairs) =>
        TextKeyValueCodec.Encode(pairs.Where(p => TextKeyValueCodec.ValidateKeyName(p.Key) is null));

    /// <summary>Encoded text of up to <paramref name="max"/> pairs, then mutated or replaced by random bytes.</summary>
    public static Gen<byte[]> Text(int max = 12) => Mutations.Around(Pair.Array[0, max].Select(Encode), 200);
}
