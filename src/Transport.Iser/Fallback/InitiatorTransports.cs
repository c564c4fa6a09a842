using Iser.Core.Datamover;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Verbs;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Transport.Iser.Fallback;

/// <summary>The one place a client picks its initiator transport (CLI, bench, tests).</summary>
public static class InitiatorTransports
{
    /// <summary>
    /// TCP, iSER, or Auto (iSER, else TCP with the reason logged under "Iser.Transport.Fallback").
    /// </summary>
    public static IInitiatorTransport Create(TransportKind kind, ILoggerFactory? loggerFactory = null, IserOptions? iserOptions = null)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        return kind switch
        {
            TransportKind.Tcp => new TcpInitiatorTransport(loggerFactory.CreateLogger("Iser.Tcp")),
            TransportKind.Iser => new IserInitiatorTransport(iserOptions, loggerFactory.CreateLogger("Iser.Iser")),
            TransportKind.Auto => new AutoInitiatorTransport(
                new IserInitiatorTransport(iserOptions, loggerFactory.CreateLogger("Iser.Iser")),
                new TcpInitiatorTransport(loggerFactory.CreateLogger("Iser.Tcp")),
                () => RdmaRuntime.IsSupported ? null : RdmaRuntime.NotSupportedReason ?? "no RDMA support",
                loggerFactory.CreateLogger("Iser.Transport.Fallback")),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown transport kind."),
        };
    }

    /// <summary>Parses "tcp", "iser" or "auto" (any case).</summary>
    public static bool TryParse(string? text, out TransportKind kind) => Enum.TryParse(text, ignoreCase: true, out kind) && Enum.IsDefined(kind);
}
