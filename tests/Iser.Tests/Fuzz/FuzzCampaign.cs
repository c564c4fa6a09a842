using System.Collections.Concurrent;
using System.Diagnostics;
using CsCheck;

namespace Iser.Tests.Fuzz;

/// <summary>
/// Runs one fuzz target: a CsCheck generator sampled in process, each input under a watchdog (a hang fails the test with
/// the input that hung) and an allocation ceiling (a length field must not make the parser allocate what it claims).
/// The input count is <see cref="Iterations"/>: a short campaign for CI, ISER_FUZZ_ITERATIONS for long runs
/// (bench/fuzz/run-fuzz.sh). ISER_FUZZ_REPORT names a file that gets one line per target: name, inputs, seconds, result.
/// </summary>
internal static class FuzzCampaign
{
    public const int DefaultIterations = 3000;
    private static readonly TimeSpan InputTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Inputs per target: ISER_FUZZ_ITERATIONS when set, otherwise <paramref name="shortRun"/>.</summary>
    public static long Iterations(long shortRun = DefaultIterations) =>
        long.TryParse(Environment.GetEnvironmentVariable("ISER_FUZZ_ITERATIONS"), out long n) && n > 0 ? n : shortRun;

    /// <summary>
    /// Samples <paramref name="gen"/> and applies <paramref name="property"/> to each input on one thread. Fails when the
    /// property throws, when one input runs longer than the watchdog allows, or allocates more than
    /// <paramref name="maxAllocationPerInput"/> bytes on the sampling thread.
    /// </summary>
    public static void Run<T>(string name, Gen<T> gen, Action<T> property, Func<T, string> print,
        long maxAllocationPerInput = 64L << 20, long shortRun = DefaultIterations, string? seed = null)
    {
        long iterations = Iterations(shortRun);
        long started = Stopwatch.GetTimestamp();
        long inputStart = 0; // 0 while between inputs
        long inputs = 0;
        T current = default!;
        var outcomes = new ConcurrentDictionary<string, long>();

        void Guarded(T input)
        {
            current = input;
            t_outcomes = outcomes;
            Volatile.Write(ref inputStart, Stopwatch.GetTimestamp());
            long before = GC.GetAllocatedBytesForCurrentThread();
            property(input);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Volatile.Write(ref inputStart, 0);
            Interlocked.Increment(ref inputs);
            if (allocated > maxAllocationPerInput)
                throw new InvalidOperationException(
                    $"{name}: one input allocated {allocated:N0} bytes, more than the {maxAllocationPerInput:N0} allowed.");
        }

        // A dedicated thread, so the watchdog below can notice an input that never returns and fail with it.
        var worker = Task.Factory.StartNew(() => gen.Sample(Guarded, seed: seed, iter: iterations, threads: 1, print: print),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        string result = "passed";
        try
        {
            while (!WaitWithoutThrowing(worker, TimeSpan.FromMilliseconds(200)))
            {
                long s = Volatile.Read(ref inputStart);
                if (s != 0 && Stopwatch.GetElapsedTime(s) > InputTimeout)
                {
                    result = "HUNG";
                    Assert.Fail($"{name}: one input ran longer than {InputTimeout.TotalSeconds} s (a hang): {print(current)}");
                }
            }
            if (worker.IsFaulted)
            {
                result = "FAILED";
                worker.GetAwaiter().GetResult();
            }
        }
        finally
        {
            Report(name, Interlocked.Read(ref inputs), Stopwatch.GetElapsedTime(started).TotalSeconds, result, outcomes);
        }
    }

    /// <summary>
    /// Task.Wait throws when the task faulted: the failure must first be recorded as such, or the report says
    /// "passed" for a target that failed (which hid two findings, reported as runs that "ended short").
    /// </summary>
    private static bool WaitWithoutThrowing(Task task, TimeSpan timeout)
    {
        try { return task.Wait(timeout); }
        catch (AggregateException) { return true; }
    }

    /// <summary>Async properties run to completion on the sampling thread (the targets under test complete synchronously
    /// or on the pool; either way the watchdog sees the wait).</summary>
    public static Action<T> Sync<T>(Func<T, Task> property) => input => property(input).GetAwaiter().GetResult();

    [ThreadStatic] private static ConcurrentDictionary<string, long>? t_outcomes;

    /// <summary>
    /// Tallies what an input led to (refused, completed, a status...), so a report shows how deep the inputs got
    /// instead of only that nothing broke. Counts made on another thread than the sampling one are not seen.
    /// </summary>
    public static void Count(string outcome) => t_outcomes?.AddOrUpdate(outcome, 1, (_, n) => n + 1);

    private static readonly object ReportLock = new();

    private static void Report(string name, long inputs, double seconds, string result, ConcurrentDictionary<string, long> outcomes)
    {
        string tally = string.Join(" ", outcomes.OrderByDescending(o => o.Value).Take(12).Select(o => $"{o.Key}={o.Value}"));
        string line = $"{name}\t{inputs}\t{seconds:F2}\t{result}\t{tally}";
        Console.WriteLine($"fuzz: {line}");
        if (Environment.GetEnvironmentVariable("ISER_FUZZ_REPORT") is { Length: > 0 } path)
            lock (ReportLock) File.AppendAllText(path, line + Environment.NewLine);
    }

    public static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.Length <= 512 ? Convert.ToHexString(bytes) : Convert.ToHexString(bytes[..512]) + $"...({bytes.Length} bytes)";
}
