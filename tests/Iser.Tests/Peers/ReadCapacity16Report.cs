using System.Globalization;
using System.Text.RegularExpressions;

namespace Iser.Tests.Peers;

/// <summary>iscsi-readcapacity16 output: last LBA, block length and the total size it computes.</summary>
public sealed partial record ReadCapacity16Report(ProcessResult Process, long? ReturnedLastLba, int? BlockLength, long? TotalSize)
{
    public bool Succeeded => Process.ExitCode == 0 && ReturnedLastLba is not null && BlockLength is not null;

    /// <summary>(last LBA + 1) × block length, from the two fields the target returned.</summary>
    public long? CapacityInBytes => ReturnedLastLba is { } last && BlockLength is { } length ? (last + 1) * length : null;

    public static ReadCapacity16Report Parse(ProcessResult process)
    {
        long? Number(Regex pattern) => pattern.Match(process.Stdout) is { Success: true } m
            ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
            : null;
        return new ReadCapacity16Report(process, Number(LastLba()), (int?)Number(BlockLengthLine()), Number(TotalSizeLine()));
    }

    [GeneratedRegex(@"RETURNED LOGICAL BLOCK ADDRESS:(\d+)")]
    private static partial Regex LastLba();

    [GeneratedRegex(@"LOGICAL BLOCK LENGTH IN BYTES:(\d+)")]
    private static partial Regex BlockLengthLine();

    [GeneratedRegex(@"Total size:(\d+)")]
    private static partial Regex TotalSizeLine();
}
