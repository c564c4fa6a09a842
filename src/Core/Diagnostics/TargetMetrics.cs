using System.Diagnostics.Metrics;

namespace Iser.Core.Diagnostics;

/// <summary>
/// The target's instruments (meter <c>Iser.Target</c>), named in OpenTelemetry's style; `dotnet-counters monitor
/// --counters Iser.Target` reads them. Every call is cheap when nobody listens.
/// </summary>
public static class TargetMetrics
{
    public const string MeterName = "Iser.Target";
    private static readonly Meter s_meter = new(MeterName);

    internal static readonly Histogram<double> CommandDuration = s_meter.CreateHistogram<double>("iser.target.command.duration", "s",
        "Time from a SCSI command's start to its status, by operation (read, write, other) and LUN.");
    internal static readonly Counter<long> Bytes = s_meter.CreateCounter<long>("iser.target.io.bytes", "By",
        "Data moved by SCSI commands, by direction (read: to initiators, write: from them).");
    internal static readonly UpDownCounter<long> InFlight = s_meter.CreateUpDownCounter<long>("iser.target.commands.in_flight", "{command}",
        "Commands started and not yet answered.");
    internal static readonly UpDownCounter<long> Sessions = s_meter.CreateUpDownCounter<long>("iser.target.sessions", "{session}",
        "Sessions in the target's table (discovery sessions too; one retained at ErrorRecoveryLevel 2 counts until it ends).");
    internal static readonly UpDownCounter<long> Connections = s_meter.CreateUpDownCounter<long>("iser.target.connections", "{connection}",
        "Connections open, in login or full feature phase.");
    internal static readonly Counter<long> Logins = s_meter.CreateCounter<long>("iser.target.logins", "{login}",
        "Logins finished, by result (success, or the failure's status class).");
    internal static readonly Counter<long> KeepAlivesSent = s_meter.CreateCounter<long>("iser.target.nop.sent", "{ping}",
        "NOP-In heartbeats sent to initiators.");
    internal static readonly Counter<long> KeepAlivesMissed = s_meter.CreateCounter<long>("iser.target.nop.missed", "{ping}",
        "NOP-In heartbeats not answered in time (the connection was dropped).");

    /// <summary>One command answered: its duration and the bytes it moved each way.</summary>
    internal static void CommandEnded(byte opcode, int lun, long startTimestamp, long dataIn, long dataOut) =>
        ScsiCommandMetrics.CommandEnded(CommandDuration, Bytes, opcode, lun, startTimestamp, dataIn, dataOut);

    internal static void LoginEnded(string result) => Logins.Add(1, new KeyValuePair<string, object?>("iser.login.result", result));
}
