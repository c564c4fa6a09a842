namespace Iser.Cli.Perf;

/// <summary>What a perf run does: pattern, transfer size, commands in flight, how long, and over which part of the LUN.</summary>
internal sealed record PerfWorkload
{
    public PerfMode Mode { get; init; } = PerfMode.RandRead;
    /// <summary>Share of reads in <see cref="PerfMode.RandRW"/>, 0-100.</summary>
    public int ReadPercent { get; init; } = 70;
    public int TransferBytes { get; init; } = 4096;
    public int QueueDepth { get; init; } = 32;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Only the first this many bytes of the LUN are used; null = all of it.</summary>
    public long? RegionBytes { get; init; }

    public bool IsRandom => Mode is PerfMode.RandRead or PerfMode.RandWrite or PerfMode.RandRW;

    public static string Name(PerfMode mode) => mode switch
    {
        PerfMode.Read => "read",
        PerfMode.Write => "write",
        PerfMode.RandRead => "randread",
        PerfMode.RandWrite => "randwrite",
        _ => "randrw",
    };

    public static PerfMode? ParseMode(string text) => text.ToLowerInvariant() switch
    {
        "read" or "seqread" => PerfMode.Read,
        "write" or "seqwrite" => PerfMode.Write,
        "randread" => PerfMode.RandRead,
        "randwrite" => PerfMode.RandWrite,
        "randrw" => PerfMode.RandRW,
        _ => null,
    };
}
