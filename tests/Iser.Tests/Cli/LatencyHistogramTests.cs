using Iser.Cli.Perf;

namespace Iser.Tests.Cli;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Percentiles_of_a_uniform_spread_are_within_the_bucket_precision()
    {
        var h = new LatencyHistogram();
        for (long v = 1; v <= 100_000; v++) h.Record(v * 1000); // 1 µs .. 100 ms
        Assert.Equal(100_000, h.Count);
        foreach (var (p, exact) in new[] { (50.0, 50_000_000L), (90.0, 90_000_000L), (99.0, 99_000_000L), (99.9, 99_900_000L) })
        {
            long got = h.Percentile(p);
            Assert.InRange(got, exact * 0.96, exact * 1.04);
        }
        Assert.Equal(1000, h.MinNanoseconds);
        Assert.Equal(100_000_000, h.MaxNanoseconds);
        Assert.Equal(h.MaxNanoseconds, h.Percentile(100));
    }

    [Fact]
    public void A_rare_slow_sample_shows_in_p99_9_and_max_but_not_p50()
    {
        var h = new LatencyHistogram();
        for (int i = 0; i < 999; i++) h.Record(50_000);
        h.Record(20_000_000);
        Assert.InRange(h.Percentile(50), 48_000, 52_000);
        Assert.InRange(h.Percentile(99.9), 48_000, 52_000); // rank 999 of 1000 is still fast
        Assert.Equal(20_000_000, h.MaxNanoseconds);
        Assert.InRange(h.Percentile(99.95), 19_000_000, 20_000_000);
    }

    [Fact]
    public void Buckets_tile_the_range_without_gaps()
    {
        for (int i = 0; i < 1100; i++)
        {
            var (low, high) = LatencyHistogram.BoundsOf(i);
            Assert.Equal(i, LatencyHistogram.IndexOf(low));
            Assert.Equal(i, LatencyHistogram.IndexOf(high));
            Assert.Equal(i + 1, LatencyHistogram.IndexOf(high + 1));
        }
    }

    [Fact]
    public void Merging_adds_counts_and_keeps_extremes()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        a.Record(10);
        b.Record(1_000_000);
        b.Record(500);
        a.Add(b);
        Assert.Equal(3, a.Count);
        Assert.Equal(10, a.MinNanoseconds);
        Assert.Equal(1_000_000, a.MaxNanoseconds);
        Assert.Equal(0, new LatencyHistogram().Percentile(99));
    }
}
