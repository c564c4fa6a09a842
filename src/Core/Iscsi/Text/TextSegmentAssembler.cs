namespace Iser.Core.Iscsi.Text;

/// <summary>
/// Multi-PDU text: collects the data segments of a Login/Text sequence sent with the C (continue) bit until the
/// last one, and splits outgoing text into chunks no larger than the peer's MaxRecvDataSegmentLength
/// (RFC 7143 §11.10.2, §11.12.2). A key=value pair may straddle two chunks; only the whole is parsed.
/// </summary>
public sealed class TextSegmentAssembler
{
    private readonly int _maxTotalLength;
    private byte[] _buffer = new byte[1024];
    private int _length;
    private bool _complete;

    public TextSegmentAssembler(int maxTotalLength = TextKeyValueCodec.DefaultMaxTextLength)
    {
        if (maxTotalLength <= 0) throw new ArgumentOutOfRangeException(nameof(maxTotalLength));
        _maxTotalLength = maxTotalLength;
    }

    /// <summary>True when segments with C=1 have arrived and the final one has not.</summary>
    public bool HasPending => _length > 0 && !_complete;

    /// <summary>Bytes collected so far.</summary>
    public int Length => _length;

    /// <summary>
    /// Adds one PDU's data segment. Returns true when <paramref name="continues"/> is false, i.e. the text is complete
    /// and can be taken with <see cref="TakeText"/>. Throws <see cref="TextFormatException"/> when the total grows
    /// beyond the limit.
    /// </summary>
    public bool Append(ReadOnlySpan<byte> segment, bool continues)
    {
        if (_complete)
            throw new InvalidOperationException("The previous text was complete and has not been taken yet.");
        if (_length + segment.Length > _maxTotalLength)
            throw new TextFormatException(
                $"The peer's continued text exceeds {_maxTotalLength} bytes; it is refused rather than buffered without end.");
        if (_length + segment.Length > _buffer.Length)
            Array.Resize(ref _buffer, Math.Min(_maxTotalLength, Math.Max(_buffer.Length * 2, _length + segment.Length)));
        segment.CopyTo(_buffer.AsSpan(_length));
        _length += segment.Length;
        _complete = !continues;
        return _complete;
    }

    /// <summary>Returns the complete text and resets for the next sequence.</summary>
    public byte[] TakeText()
    {
        if (!_complete)
            throw new InvalidOperationException("The text is not complete: the last segment had the C bit set.");
        var text = _buffer.AsSpan(0, _length).ToArray();
        _length = 0;
        _complete = false;
        return text;
    }

    /// <summary>Drops whatever was collected.</summary>
    public void Reset()
    {
        _length = 0;
        _complete = false;
    }

    /// <summary>
    /// Splits <paramref name="text"/> into chunks of at most <paramref name="maxSegmentLength"/> bytes, in order.
    /// Every chunk but the last is sent with C=1. Empty text gives one empty chunk (a PDU is still sent).
    /// </summary>
    public static IReadOnlyList<ReadOnlyMemory<byte>> Split(ReadOnlyMemory<byte> text, int maxSegmentLength)
    {
        if (maxSegmentLength <= 0) throw new ArgumentOutOfRangeException(nameof(maxSegmentLength));
        if (text.Length <= maxSegmentLength)
            return new[] { text };
        var chunks = new List<ReadOnlyMemory<byte>>((text.Length + maxSegmentLength - 1) / maxSegmentLength);
        for (int offset = 0; offset < text.Length; offset += maxSegmentLength)
            chunks.Add(text.Slice(offset, Math.Min(maxSegmentLength, text.Length - offset)));
        return chunks;
    }
}
