using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Iser.Cli;

/// <summary>Console logging to stderr, so stdout carries only the command's own output.</summary>
internal static class Logging
{
    public static ILoggerFactory Create(string? level)
    {
        var min = level?.ToLowerInvariant() switch
        {
            null => LogLevel.Warning,
            "trace" => LogLevel.Trace,
            "debug" => LogLevel.Debug,
            "information" or "info" => LogLevel.Information,
            "warning" or "warn" => LogLevel.Warning,
            "error" => LogLevel.Error,
            "none" => LogLevel.None,
            _ => throw new UsageException($"--log-level must be trace, debug, information, warning, error or none, not '{level}'."),
        };
        return LoggerFactory.Create(b => b
            .SetMinimumLevel(min)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
    }
}
