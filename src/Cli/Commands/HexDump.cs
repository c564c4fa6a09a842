using System.Text;

namespace Iser.Cli.Commands;

/// <summary>`hexdump -C` style lines: offset, 16 bytes in hex (two groups of 8), and the printable ASCII.</summary>
internal static class HexDump
{
    public static void Write(TextWriter output, ReadOnlySpan<byte> data, long baseOffset)
    {
        var line = new StringBuilder(80);
        for (int i = 0; i < data.Length; i += 16)
        {
            line.Clear();
            line.Append((baseOffset + i).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)).Append("  ");
            var row = data.Slice(i, Math.Min(16, data.Length - i));
            for (int j = 0; j < 16; j++)
            {
                if (j < row.Length) line.Append(row[j].ToString("x2", System.Globalization.CultureInfo.InvariantCulture)).Append(' ');
                else line.Append("   ");
                if (j == 7) line.Append(' ');
            }
            line.Append(" |");
            foreach (byte b in row) line.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
            line.Append('|');
            output.WriteLine(line);
        }
    }
}
