using System.Globalization;
using System.Text.Json;

namespace Iser.Cli.Perf;

/// <summary>A perf result as text for people or JSON for scripts.</summary>
internal static class PerfReport
{
    public static readonly double[] Percentiles = [50, 90, 99, 99.9];

    public static string Title(PerfWorkload w)
    {
        string mix = w.Mode == PerfMode.RandRW ? string.Create(CultureInfo.InvariantCulture, $" ({w.ReadPercent}% reads)") : "";
        return string.Create(CultureInfo.InvariantCulture, $"{PerfWorkload.Name(w.Mode)}{mix}, {Client.SizeText.Transfer(w.TransferBytes)}, {w.QueueDepth} in flight");
    }

    public static void WriteText(TextWriter o, PerfResult r)
    {
        var h = r.Latency;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Title(r.Workload)}: {r.Commands} commands in {r.Elapsed.TotalSeconds:0.00} s"));
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  IOPS {r.Iops:0}  ({r.Reads} reads, {r.Writes} writes)   throughput {r.MegabytesPerSecond:0.0} MB/s   CPU {r.CpuMicrosecondsPerCommand:0.0} µs/command"));
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  latency (µs): min {Micro(h.MinNanoseconds)}  mean {h.MeanNanoseconds / 1000:0.0}  p50 {Micro(h.Percentile(50))}  p90 {Micro(h.Percentile(90))}  p99 {Micro(h.Percentile(99))}  p99.9 {Micro(h.Percentile(99.9))}  max {Micro(h.MaxNanoseconds)}"));
    }

    public static void WriteJson(TextWriter o, PerfResult r, string? url)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            var w = r.Workload;
            var h = r.Latency;
            json.WriteStartObject();
            if (url is not null) json.WriteString("url", url);
            json.WriteString("mode", PerfWorkload.Name(w.Mode));
            if (w.Mode == PerfMode.RandRW) json.WriteNumber("readPercent", w.ReadPercent);
            json.WriteNumber("blockSize", w.TransferBytes);
            json.WriteNumber("queueDepth", w.QueueDepth);
            json.WriteNumber("seconds", Math.Round(r.Elapsed.TotalSeconds, 3));
            json.WriteNumber("commands", r.Commands);
            json.WriteNumber("reads", r.Reads);
            json.WriteNumber("writes", r.Writes);
            json.WriteNumber("iops", Math.Round(r.Iops, 1));
            json.WriteNumber("mbPerSecond", Math.Round(r.MegabytesPerSecond, 2));
            json.WriteStartObject("latencyMicroseconds");
            json.WriteNumber("min", Math.Round(h.Count == 0 ? 0 : h.MinNanoseconds / 1000.0, 1));
            json.WriteNumber("mean", Math.Round(h.MeanNanoseconds / 1000.0, 1));
            json.WriteNumber("p50", Math.Round(h.Percentile(50) / 1000.0, 1));
            json.WriteNumber("p90", Math.Round(h.Percentile(90) / 1000.0, 1));
            json.WriteNumber("p99", Math.Round(h.Percentile(99) / 1000.0, 1));
            json.WriteNumber("p99_9", Math.Round(h.Percentile(99.9) / 1000.0, 1));
            json.WriteNumber("max", Math.Round(h.MaxNanoseconds / 1000.0, 1));
            json.WriteEndObject();
            json.WriteNumber("allocatedBytesPerCommand", Math.Round(r.AllocatedBytesPerCommand, 1));
            json.WriteNumber("cpuMicrosecondsPerCommand", Math.Round(r.CpuMicrosecondsPerCommand, 1));
            json.WriteNumber("gen0Collections", r.Gen0Collections);
            json.WriteNumber("threadPoolWorkItemsPerCommand", Math.Round(r.ThreadPoolWorkItemsPerCommand, 3));
            json.WriteEndObject();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static string Micro(long nanoseconds) => (nanoseconds / 1000.0).ToString("0.0", CultureInfo.InvariantCulture);
}
