using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Iser.Cli.Perf;

/// <summary>
/// Which types this process allocates, sampled from the runtime's own GCAllocationTick events (one about every
/// 100 KB allocated, naming the type that crossed the mark). For `iser perf --allocations`: a profiler-free answer to
/// "what allocates per command" on a machine without dotnet-trace or dotnet-counters.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const int GcKeyword = 0x1;
    private const int AllocationTickEventId = 10;
    private readonly ConcurrentDictionary<string, long> _bytesByType = new();
    private volatile bool _enabled;

    public void Start() => _enabled = true;

    public void Stop() => _enabled = false;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_enabled || e.EventId != AllocationTickEventId || e.Payload is null || e.PayloadNames is null) return;
        int typeIndex = e.PayloadNames.IndexOf("TypeName");
        int amountIndex = e.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex < 0) return;
        string type = e.Payload[typeIndex] as string ?? "?";
        long amount = amountIndex >= 0 && e.Payload[amountIndex] is ulong a ? (long)a : 100_000;
        _bytesByType.AddOrUpdate(type, amount, (_, v) => v + amount);
    }

    /// <summary>The types behind the most sampled bytes, with their share.</summary>
    public void Report(TextWriter output, long commands, int top = 12)
    {
        long total = _bytesByType.Values.Sum();
        output.WriteLine($"Allocation samples (about one per 100 KB; {total / 1e6:0.0} MB sampled over {commands} commands):");
        foreach (var (type, bytes) in _bytesByType.OrderByDescending(kv => kv.Value).Take(top).Select(kv => (kv.Key, kv.Value)))
            output.WriteLine($"  {bytes * 100.0 / Math.Max(1, total),5:0.0}%  ~{bytes / (double)Math.Max(1, commands),7:0.0} B/command  {type}");
    }
}
