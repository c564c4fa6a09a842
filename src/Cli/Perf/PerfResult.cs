namespace Iser.Cli.Perf;

/// <summary>What a perf run measured.</summary>
internal sealed record PerfResult(PerfWorkload Workload, TimeSpan Elapsed, long Reads, long Writes, LatencyHistogram Latency)
{
    /// <summary>Bytes allocated in the whole process during the run (all threads), divided by commands.</summary>
    public double AllocatedBytesPerCommand { get; init; }
    public int Gen0Collections { get; init; }
    /// <summary>User + system time of the whole process (every thread) during the run.</summary>
    public TimeSpan CpuTime { get; init; }
    /// <summary>Thread-pool work items the process ran during the run, divided by commands: how often a completion (or
    /// anything else) went through the pool; about 0 with inline completions, at most 1 with the default ones.</summary>
    public double ThreadPoolWorkItemsPerCommand { get; init; }

    /// <summary>CPU time per command in microseconds: what each command cost the machine, polling threads included.</summary>
    public double CpuMicrosecondsPerCommand => Commands == 0 ? 0 : CpuTime.TotalMicroseconds / Commands;

    public long Commands => Reads + Writes;
    public long Bytes => Commands * Workload.TransferBytes;
    public double Iops => Elapsed.TotalSeconds <= 0 ? 0 : Commands / Elapsed.TotalSeconds;
    /// <summary>Decimal megabytes (10^6) per second.</summary>
    public double MegabytesPerSecond => Elapsed.TotalSeconds <= 0 ? 0 : Bytes / Elapsed.TotalSeconds / 1e6;
}
