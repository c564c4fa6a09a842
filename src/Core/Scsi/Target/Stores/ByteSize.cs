using System.Globalization;

namespace Iser.Core.Scsi.Target.Stores;

/// <summary>Sizes written as a number with an optional K/M/G/T suffix (powers of 1024), e.g. "1G", "512M", "4096".</summary>
public static class ByteSize
{
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        // Accept "1G", "1GB", "1GiB" alike.
        if (s.EndsWith("iB", StringComparison.OrdinalIgnoreCase)) s = s[..^2];
        else if (s.Length > 1 && (s[^1] == 'B' || s[^1] == 'b') && char.IsLetter(s[^2])) s = s[..^1];
        int shift = 0;
        if (s.Length > 0 && char.IsLetter(s[^1]))
        {
            shift = char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, 'P' => 50, _ => -1 };
            if (shift < 0) return false;
            s = s[..^1];
        }
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var number)) return false;
        if (number > (long.MaxValue >> shift)) return false;
        bytes = number << shift;
        return true;
    }

    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        int unit = 0;
        long value = bytes;
        while (unit < units.Length - 1 && value >= 1024 && value % 1024 == 0) { value /= 1024; unit++; }
        return string.Create(CultureInfo.InvariantCulture, $"{value} {units[unit]}");
    }
}
