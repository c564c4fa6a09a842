using System.Diagnostics.Metrics;

namespace Iser.Core.Diagnostics;

/// <summary>
/// The initiator's instruments (meter <c>Iser.Initiator</c>), named in OpenTelemetry's style; `dotnet-counters monitor
/// --counters Iser.Initiator` reads them. Every call is cheap when nobody listens.
/// </summary>
public static class InitiatorMetrics
{
    public const string MeterName = "Iser.Initiator";
    private static readonly Meter s_meter = new(MeterName);

    internal static readonly Histogram<double> CommandDuration = s_meter.CreateHistogram<double>("iser.initiator.command.duration", "s",
        "Time from issue to status of each SCSI command, by operation (read, write, other) and LUN.");
    internal static readonly Counter<long> Bytes = s_meter.CreateCounter<long>("iser.initiator.io.bytes", "By",
        "Data moved by SCSI commands, by direction (read, write).");
    internal static readonly UpDownCounter<long> InFlight = s_meter.CreateUpDownCounter<long>("iser.initiator.commands.in_flight", "{command}",
        "Commands issued and not yet answered.");
    internal static readonly UpDownCounter<long> Sessions = s_meter.CreateUpDownCounter<long>("iser.initiator.sessions", "{session}",
        "Sessions logged in (discovery sessions too), from login until logout or failure.");
    internal static readonly Counter<long> Reconnects = s_meter.CreateCounter<long>("iser.initiator.reconnects", "{reconnect}",
        "Session recoveries at ErrorRecoveryLevel 0 (a new login, commands re-issued).");
    internal static readonly Counter<long> ConnectionRecoveries = s_meter.CreateCounter<long>("iser.initiator.connection_recoveries", "{recovery}",
        "Connections replaced within their session at ErrorRecoveryLevel 2 (tasks reassigned).");
    internal static readonly Counter<long> KeepAlivesSent = s_meter.CreateCounter<long>("iser.initiator.nop.sent", "{ping}",
        "NOP-Out keep-alive pings sent on idle connections.");
    internal static readonly Counter<long> KeepAlivesMissed = s_meter.CreateCounter<long>("iser.initiator.nop.missed", "{ping}",
        "Keep-alive pings the target did not answer in time (the connection was given up).");

    /// <summary>One command answered (or failed): its duration and, on success, the bytes it moved.</summary>
    internal static void CommandEnded(byte opcode, int lun, long startTimestamp, int transferred, bool isRead) =>
        ScsiCommandMetrics.CommandEnded(CommandDuration, Bytes, opcode, lun, startTimestamp,
            dataIn: isRead ? transferred : 0, dataOut: isRead ? 0 : transferred);
}
