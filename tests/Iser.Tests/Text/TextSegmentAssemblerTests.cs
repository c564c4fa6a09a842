using System.Text;
using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Text;

public class TextSegmentAssemblerTests
{
    [Fact]
    public void Split_then_reassemble_gives_the_same_pairs_even_when_a_pair_straddles_chunks()
    {
        var pairs = Enumerable.Range(0, 50).Select(i => new TextKeyValue($"X-key{i}", new string((char)('a' + i % 26), 37))).ToList();
        var text = TextKeyValueCodec.Encode(pairs);
        var chunks = TextSegmentAssembler.Split(text, 512);

        Assert.Equal((text.Length + 511) / 512, chunks.Count);
        Assert.All(chunks, c => Assert.True(c.Length <= 512));
        // 512 does not divide at a pair boundary here, so some pair is cut in two.
        Assert.Contains(chunks.Take(chunks.Count - 1), c => c.Span[^1] != 0);

        var assembler = new TextSegmentAssembler();
        for (int i = 0; i < chunks.Count; i++)
        {
            bool complete = assembler.Append(chunks[i].Span, continues: i < chunks.Count - 1);
            Assert.Equal(i == chunks.Count - 1, complete);
        }
        Assert.Equal(pairs, TextKeyValueCodec.Parse(assembler.TakeText()));
        Assert.Equal(0, assembler.Length);
    }

    [Fact]
    public void Empty_text_is_one_empty_chunk()
    {
        var chunks = TextSegmentAssembler.Split(ReadOnlyMemory<byte>.Empty, 8192);
        Assert.Single(chunks);
        Assert.Equal(0, chunks[0].Length);
    }

    [Fact]
    public void Taking_incomplete_text_is_refused()
    {
        var assembler = new TextSegmentAssembler();
        assembler.Append(Encoding.ASCII.GetBytes("X-a=1\0"), continues: true);
        Assert.True(assembler.HasPending);
        Assert.Throws<InvalidOperationException>(() => assembler.TakeText());
    }

    [Fact]
    public void Endless_continuation_is_cut_off_at_the_limit()
    {
        var assembler = new TextSegmentAssembler(maxTotalLength: 1000);
        var segment = new byte[600];
        assembler.Append(segment, continues: true);
        var e = Assert.Throws<TextFormatException>(() => assembler.Append(segment, continues: true));
        Assert.Contains("exceeds 1000 bytes", e.Message);
    }
}
