using System.Numerics;

namespace Iser.Cli.Perf;

/// <summary>
/// Latencies in nanoseconds in fixed log-linear buckets (32 per power of two, so any value is within ~3% of its
/// bucket): recording is an array increment, memory is fixed (~9 KiB) however long the run, and percentiles are read
/// by walking the buckets. Not thread-safe: each worker keeps its own and they are merged at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 5;
    private const int SubBuckets = 1 << SubBucketBits;
    /// <summary>Values up to 2^40 ns (about 18 minutes); longer ones land in the last bucket.</summary>
    private const int MaxExponent = 40;
    private const int BucketCount = SubBuckets + (MaxExponent - SubBucketBits + 1) * SubBuckets;

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }
    public long MinNanoseconds { get; private set; } = long.MaxValue;
    public long MaxNanoseconds { get; private set; }
    public double SumNanoseconds { get; private set; }
    public double MeanNanoseconds => Count == 0 ? 0 : SumNanoseconds / Count;

    public void Record(long nanoseconds)
    {
        if (nanoseconds < 0) nanoseconds = 0;
        _counts[IndexOf(nanoseconds)]++;
        Count++;
        SumNanoseconds += nanoseconds;
        if (nanoseconds < MinNanoseconds) MinNanoseconds = nanoseconds;
        if (nanoseconds > MaxNanoseconds) MaxNanoseconds = nanoseconds;
    }

    public void Add(LatencyHistogram other)
    {
        for (int i = 0; i < BucketCount; i++) _counts[i] += other._counts[i];
        Count += other.Count;
        SumNanoseconds += other.SumNanoseconds;
        if (other.Count > 0)
        {
            MinNanoseconds = Math.Min(MinNanoseconds, other.MinNanoseconds);
            MaxNanoseconds = Math.Max(MaxNanoseconds, other.MaxNanoseconds);
        }
    }

    /// <summary>
    /// The latency at or below which <paramref name="percent"/>% of samples fall: the middle of the bucket holding that
    /// rank, kept within the observed minimum and maximum. 0 with no samples.
    /// </summary>
    public long Percentile(double percent)
    {
        if (Count == 0) return 0;
        // Rounded first so 99.9% of 1000 is rank 999, not 1000 through floating-point noise.
        long rank = Math.Max(1, (long)Math.Ceiling(Math.Round(percent / 100.0 * Count, 6)));
        if (rank >= Count) return MaxNanoseconds;
        long seen = 0;
        for (int i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen < rank) continue;
            var (low, high) = BoundsOf(i);
            long middle = low + (high - low) / 2;
            return Math.Clamp(middle, MinNanoseconds, MaxNanoseconds);
        }
        return MaxNanoseconds;
    }

    internal static int IndexOf(long value)
    {
        if (value < SubBuckets) return (int)value;
        int exponent = 63 - BitOperations.LeadingZeroCount((ulong)value);
        if (exponent > MaxExponent) return BucketCount - 1;
        int shift = exponent - SubBucketBits;
        int sub = (int)(value >> shift) - SubBuckets;
        return SubBuckets + shift * SubBuckets + sub;
    }

    /// <summary>The smallest and largest value that land in bucket <paramref name="index"/>.</summary>
    internal static (long Low, long High) BoundsOf(int index)
    {
        if (index < SubBuckets) return (index, index);
        int shift = (index - SubBuckets) / SubBuckets;
        int sub = (index - SubBuckets) % SubBuckets;
        long low = (long)(SubBuckets + sub) << shift;
        return (low, low + (1L << shift) - 1);
    }
}
