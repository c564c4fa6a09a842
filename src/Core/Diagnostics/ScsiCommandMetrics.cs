using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Iser.Core.Diagnostics;

/// <summary>
/// What the initiator and the target record for each SCSI command that ends, once for both: its duration on a histogram
/// tagged by operation and LUN, and the bytes it moved on a counter tagged by direction. Each side passes its own
/// instruments (<see cref="InitiatorMetrics"/>, <see cref="TargetMetrics"/>), so the names stay theirs.
/// </summary>
internal static class ScsiCommandMetrics
{
    /// <summary>Records one command: the time since <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>)
    /// and, where above 0, the bytes read (<paramref name="dataIn"/>) and written (<paramref name="dataOut"/>).</summary>
    public static void CommandEnded(Histogram<double> duration, Counter<long> bytes, byte opcode, int lun, long startTimestamp,
        long dataIn, long dataOut)
    {
        if (duration.Enabled)
        {
            duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds,
                new KeyValuePair<string, object?>(ScsiMetricTags.Operation, ScsiMetricTags.OperationOf(opcode)),
                new KeyValuePair<string, object?>(ScsiMetricTags.Lun, ScsiMetricTags.LunValue(lun)));
        }
        if (!bytes.Enabled) return;
        if (dataIn > 0) bytes.Add(dataIn, new KeyValuePair<string, object?>(ScsiMetricTags.Direction, ScsiMetricTags.Read));
        if (dataOut > 0) bytes.Add(dataOut, new KeyValuePair<string, object?>(ScsiMetricTags.Direction, ScsiMetricTags.Write));
    }
}
