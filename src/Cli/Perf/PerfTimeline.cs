namespace Iser.Cli.Perf;

/// <summary>
/// The IOPS of each interval of a run (about a second each), as the runner reports them for the progress line; what
/// `iser perf --plot` draws over time.
/// </summary>
internal sealed class PerfTimeline
{
    private readonly List<(double Seconds, double Iops)> _samples = new();

    public IReadOnlyList<(double Seconds, double Iops)> Samples => _samples;

    /// <summary>Called by the runner's monitoring loop (one thread), once per interval.</summary>
    public void Record(TimeSpan elapsed, double iops, double megabytesPerSecond) => _samples.Add((elapsed.TotalSeconds, iops));

    /// <summary>The progress line and the timeline both fed from one callback; either may be absent.</summary>
    public static Action<TimeSpan, double, double>? Both(Action<TimeSpan, double, double>? progress, PerfTimeline? timeline) =>
        (progress, timeline) switch
        {
            (null, null) => null,
            (not null, null) => progress,
            (null, not null) => timeline.Record,
            _ => (elapsed, iops, mbps) =>
            {
                timeline.Record(elapsed, iops, mbps);
                progress(elapsed, iops, mbps);
            },
        };
}
