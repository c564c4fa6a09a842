using System.Globalization;
using System.Text.RegularExpressions;

namespace Iser.Tests.Peers;

/// <summary>
/// iscsi-perf's result: the final "iops average N (M MB/s)" line and the transfer size it announced.
/// Its MB are MiB (2^20 bytes); <see cref="MegabytesPerSecond"/> is recomputed exactly from IOPS × transfer size.
/// </summary>
public sealed partial record PerfReport(ProcessResult Process, long? AverageIops, int? TransferBytes, long? BlockCount)
{
    public bool Succeeded => Process.ExitCode == 0 && AverageIops is not null;

    /// <summary>Decimal megabytes (10^6 bytes) per second.</summary>
    public double? MegabytesPerSecond => AverageIops is { } iops && TransferBytes is { } size ? iops * (double)size / 1e6 : null;

    public static PerfReport Parse(ProcessResult process)
    {
        // Progress lines are separated by carriage returns; the summary "iops average" line stands alone.
        var lines = process.Stdout.Split('\n', '\r');
        long? iops = null;
        foreach (string line in lines)
            if (FinalAverage().Match(line) is { Success: true } m)
                iops = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        int? transfer = TransferSize().Match(process.Stdout) is { Success: true } t
            ? int.Parse(t.Groups[1].Value, CultureInfo.InvariantCulture)
            : null;
        long? blocks = Capacity().Match(process.Stdout) is { Success: true } c
            ? long.Parse(c.Groups[1].Value, CultureInfo.InvariantCulture)
            : null;
        return new PerfReport(process, iops, transfer, blocks);
    }

    [GeneratedRegex(@"^\s*iops average (\d+) \(")]
    private static partial Regex FinalAverage();

    [GeneratedRegex(@"transfer size of \d+ blocks \((\d+) byte\)")]
    private static partial Regex TransferSize();

    [GeneratedRegex(@"capacity is (\d+) blocks")]
    private static partial Regex Capacity();
}
