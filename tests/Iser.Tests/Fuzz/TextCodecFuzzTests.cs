using CsCheck;
using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Fuzz;

/// <summary>
/// The key=value codec (RFC 7143 §6.1), binary values and multi-PDU text reassembly. Parse either returns pairs or throws
/// <see cref="TextFormatException"/>; what it returns re-encodes and parses back the same; the encoder's own output
/// round-trips byte for byte.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class TextCodecFuzzTests
{
    private static void ParseProperty(byte[] text)
    {
        List<TextKeyValue>? pairs = null;
        try
        {
            pairs = TextKeyValueCodec.Parse(text);
        }
        catch (TextFormatException e)
        {
            // A refusal in words is the documented outcome, and TryParse must agree with it.
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            Assert.False(TextKeyValueCodec.TryParse(text, out _, out var error));
            Assert.Equal(e.Message, error);
            FuzzCampaign.Count("refused");
        }
        if (pairs is not null)
        {
            foreach (var p in pairs)
            {
                Assert.Null(TextKeyValueCodec.ValidateKeyName(p.Key));
                Assert.DoesNotContain('\0', p.Value);
            }
            Assert.Equal(pairs, TextKeyValueCodec.Parse(TextKeyValueCodec.Encode(pairs)));
            FuzzCampaign.Count(pairs.Count == 0 ? "empty" : "parsed");
        }
    }

    [Fact]
    public void ParseAcceptsOrRefusesInWordsAndRoundTrips() =>
        FuzzCampaign.Run("text-codec", KeyValueGen.Text(), ParseProperty, b => FuzzCampaign.Hex(b));

    [Fact]
    public void EncoderOutputRoundTripsByteForByte() =>
        FuzzCampaign.Run("text-codec-roundtrip", KeyValueGen.Pair.Array[0, 16], pairs =>
        {
            var unique = pairs.Where(p => TextKeyValueCodec.ValidateKeyName(p.Key) is null).DistinctBy(p => p.Key).ToArray();
            var wire = TextKeyValueCodec.Encode(unique);
            Assert.Equal(unique, TextKeyValueCodec.Parse(wire));
            Assert.Equal(wire, TextKeyValueCodec.Encode(TextKeyValueCodec.Parse(wire)));
            FuzzCampaign.Count(unique.Length == 0 ? "empty" : "round-tripped");
        }, p => string.Join(" | ", p));

    [Fact]
    public void BinaryValuesDecodeOrRefuse() =>
        FuzzCampaign.Run("binary-value", Gen.OneOf(KeyValueGen.Value, Gen.Byte.Array[0, 64].Select(b => "0x" + Convert.ToHexString(b)[..Math.Max(0, b.Length * 2 - (b.Length & 1))])),
            value =>
            {
                if (BinaryValue.TryDecode(value, out var bytes))
                {
                    Assert.True(BinaryValue.TryDecode(BinaryValue.EncodeHex(bytes), out var hex) || bytes.Length == 0);
                    if (bytes.Length > 0) Assert.Equal(bytes, hex);
                    Assert.True(BinaryValue.TryDecode(BinaryValue.EncodeBase64(bytes), out var b64) || bytes.Length == 0);
                    if (bytes.Length > 0) Assert.Equal(bytes, b64);
                    FuzzCampaign.Count("decoded");
                }
                else
                {
                    Assert.Empty(bytes);
                    FuzzCampaign.Count("refused");
                }
            }, v => v);

    [Fact]
    public void SegmentedTextReassemblesOrRefusesWithinItsLimit() =>
        FuzzCampaign.Run("text-segments", Gen.Select(KeyValueGen.Text(), Gen.Int[1, 9000], Gen.Int[1, 70000]), t =>
        {
            var (text, segment, limit) = t;
            var assembler = new TextSegmentAssembler(limit);
            var chunks = TextSegmentAssembler.Split(text, segment);
            bool complete = false, refused = false;
            try
            {
                for (int i = 0; i < chunks.Count; i++)
                {
                    Assert.InRange(chunks[i].Length, 0, segment);
                    complete = assembler.Append(chunks[i].Span, continues: i < chunks.Count - 1);
                }
            }
            catch (TextFormatException)
            {
                refused = true;
            }
            // Refused exactly when the whole text is over the limit; otherwise it comes back whole.
            Assert.Equal(text.Length > limit, refused);
            FuzzCampaign.Count(refused ? "refused over the limit" : chunks.Count > 1 ? "reassembled" : "one segment");
            if (!refused)
            {
                Assert.True(complete);
                Assert.Equal(text, assembler.TakeText());
            }
        }, t => $"segment={t.Item2} limit={t.Item3} {FuzzCampaign.Hex(t.Item1)}");
}
