using Iser.Core.Datamover;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Transport.Iser.Fallback;

/// <summary>
/// Tries iSER first and falls back to iSCSI/TCP: no RDMA device or library, no address or route over RDMA, or the
/// target refusing the RDMA connection each log the reason once per attempt, and the TCP connection is used instead.
/// A failure after the RDMA connection is up (e.g. at login) is not a reason to switch: it is the session's to handle.
/// </summary>
public sealed class AutoInitiatorTransport : IInitiatorTransport
{
    private readonly IInitiatorTransport _iser;
    private readonly IInitiatorTransport _tcp;
    private readonly Func<string?> _iserUnavailable;
    private readonly ILogger _logger;
    private volatile string? _lastTransport;

    /// <param name="iser">The iSER transport to try.</param>
    /// <param name="tcp">The TCP transport to fall back to.</param>
    /// <param name="iserUnavailable">Why iSER cannot work on this machine, or null when it may (RdmaRuntime.NotSupportedReason).</param>
    public AutoInitiatorTransport(IInitiatorTransport iser, IInitiatorTransport tcp, Func<string?> iserUnavailable, ILogger? logger = null)
    {
        _iser = iser;
        _tcp = tcp;
        _iserUnavailable = iserUnavailable;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>"iser" or "tcp" once a connection was made, "auto" before.</summary>
    public string TransportName => _lastTransport ?? "auto";

    /// <summary>Why the last connection did not use iSER, or null when it did.</summary>
    public string? LastFallbackReason { get; private set; }

    public async ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        string? reason = _iserUnavailable();
        if (reason is null)
        {
            try
            {
                var datamover = await _iser.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
                _lastTransport = _iser.TransportName;
                LastFallbackReason = null;
                return datamover;
            }
            catch (DatamoverException e)
            {
                reason = e.Message;
            }
        }
        LastFallbackReason = reason;
        _logger.LogWarning("iSER is not available for {Host}:{Port}, using TCP: {Reason}", host, port, reason);
        var tcp = await _tcp.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
        _lastTransport = _tcp.TransportName;
        return tcp;
    }
}
