using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Iser.Tests.Initiator;

/// <summary>Collects log lines in memory so a test can show them on failure or assert on them.</summary>
internal sealed class CapturedLog : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();
    public ILoggerFactory Factory { get; }

    public CapturedLog(LogLevel minimum = LogLevel.Debug)
    {
        Factory = LoggerFactory.Create(b => b.SetMinimumLevel(minimum).AddProvider(this));
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }
    public override string ToString() => string.Join(Environment.NewLine, Lines);

    private sealed class Logger(CapturedLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : $" | {exception}")}");
    }
}
