using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Iser.Cli;

/// <summary>Console logging to stderr, so stdout carries only the command's own output.</summary>
internal static class Logging
{
    /// <param name="level">--log-level: the minimum level for every category (default warning).</param>
    /// <param name="categories">
    /// --log: per-category levels, e.g. "Iser.Initiator.Pdu=trace,Iser.Target.Login=debug" (a category covers the
    /// ones under it); a bare level in the list sets the minimum for the rest.
    /// </param>
    public static ILoggerFactory Create(string? level, string? categories = null) =>
        LoggerFactory.Create(b => Configure(b, level, categories, forJournal: false));

    /// <summary>
    /// The same settings on a builder (the Generic Host's). <paramref name="forJournal"/>: systemd's console format,
    /// each line prefixed with its syslog priority (&lt;6&gt; ...) and without a timestamp, which journald adds itself.
    /// </summary>
    public static void Configure(ILoggingBuilder builder, string? level, string? categories, bool forJournal)
    {
        var min = level is null ? LogLevel.Warning : Parse(level, "--log-level");
        var filters = new List<(string Category, LogLevel Level)>();
        foreach (var entry in (categories ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = entry.IndexOf('=');
            if (equals < 0)
            {
                min = Parse(entry, "--log");
                continue;
            }
            string category = entry[..equals].Trim();
            if (category.Length == 0) throw new UsageException($"--log: '{entry}' names no category (CATEGORY=LEVEL, e.g. Iser.Initiator.Pdu=trace).");
            filters.Add((category, Parse(entry[(equals + 1)..].Trim(), $"--log {category}")));
        }
        builder.SetMinimumLevel(min);
        if (forJournal) builder.AddSystemdConsole();
        else builder.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        foreach (var (category, categoryLevel) in filters) builder.AddFilter(category, categoryLevel);
    }

    /// <summary>Whether standard error goes to journald: systemd sets these for the services it starts.</summary>
    public static bool UnderSystemd() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("INVOCATION_ID"));

    private static LogLevel Parse(string level, string option) => level.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "information" or "info" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "none" => LogLevel.None,
        _ => throw new UsageException($"{option} must be trace, debug, information, warning, error or none, not '{level}'."),
    };
}
