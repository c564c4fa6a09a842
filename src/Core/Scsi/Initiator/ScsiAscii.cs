using System.Text;

namespace Iser.Core.Scsi.Initiator;

/// <summary>SCSI ASCII fields: printable ASCII, left-aligned, padded with spaces (and sometimes NULs).</summary>
internal static class ScsiAscii
{
    public static string Trimmed(ReadOnlySpan<byte> field)
    {
        int end = field.Length;
        while (end > 0 && (field[end - 1] == (byte)' ' || field[end - 1] == 0)) end--;
        int start = 0;
        while (start < end && field[start] == (byte)' ') start++;
        return Encoding.ASCII.GetString(field[start..end]);
    }
}
