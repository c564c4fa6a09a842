using System.Globalization;

namespace Iser.Cli.Client;

/// <summary>Byte counts and rates as people read them: "64 MiB", "1.5 GiB", "412.3 MB/s".</summary>
internal static class SizeText
{
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = bytes;
        int unit = 0;
        while (unit < units.Length - 1 && value >= 1024) { value /= 1024; unit++; }
        return unit == 0 || value == Math.Floor(value)
            ? string.Create(CultureInfo.InvariantCulture, $"{value:0} {units[unit]}")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    /// <summary>A transfer size as "4 KiB", "128 KiB", "512 B".</summary>
    public static string Transfer(int bytes) => Format(bytes);

    /// <summary>Decimal megabytes per second (10^6), the unit fio and iscsi-perf report.</summary>
    public static double MegabytesPerSecond(double bytes, double seconds) => seconds <= 0 ? 0 : bytes / seconds / 1e6;
}
