using System.Globalization;
using System.Text;

namespace Iser.Cli.Commands;

/// <summary>
/// `hexdump -C` style output: offset, 16 bytes in hex (two groups of 8) and the printable ASCII; a run of lines equal
/// to the one before is shown as one "*", and the end offset closes the dump. Fed chunk by chunk.
/// </summary>
internal sealed class HexDump(TextWriter output)
{
    private readonly StringBuilder _line = new(80);
    private readonly byte[] _previous = new byte[16];
    private int _previousLength = -1;
    private bool _collapsing;
    private long _offset;

    public void Write(ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i += 16)
        {
            var row = data.Slice(i, Math.Min(16, data.Length - i));
            if (row.Length == _previousLength && row.SequenceEqual(_previous.AsSpan(0, _previousLength)))
            {
                if (!_collapsing) output.WriteLine("*");
                _collapsing = true;
            }
            else
            {
                _collapsing = false;
                WriteRow(row);
                row.CopyTo(_previous);
                _previousLength = row.Length;
            }
            _offset += row.Length;
        }
    }

    /// <summary>The offset just past the last byte, as hexdump ends.</summary>
    public void Finish() => output.WriteLine(_offset.ToString("x8", CultureInfo.InvariantCulture));

    private void WriteRow(ReadOnlySpan<byte> row)
    {
        _line.Clear();
        _line.Append(_offset.ToString("x8", CultureInfo.InvariantCulture)).Append("  ");
        for (int j = 0; j < 16; j++)
        {
            if (j < row.Length) _line.Append(row[j].ToString("x2", CultureInfo.InvariantCulture)).Append(' ');
            else _line.Append("   ");
            if (j == 7) _line.Append(' ');
        }
        _line.Append(" |");
        foreach (byte b in row) _line.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
        _line.Append('|');
        output.WriteLine(_line);
    }
}
