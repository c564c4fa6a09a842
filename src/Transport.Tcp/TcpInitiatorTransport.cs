using System.Net;
using System.Net.Sockets;
using Iser.Core.Datamover;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Transport.Tcp;

/// <summary>Opens iSCSI/TCP connections to target portals.</summary>
public sealed class TcpInitiatorTransport : IInitiatorTransport
{
    private readonly ILogger _logger;

    public TcpInitiatorTransport(ILogger? logger = null) => _logger = logger ?? NullLogger.Instance;

    public string TransportName => "tcp";

    public async ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        string literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        Socket? socket = null;
        try
        {
            if (IPAddress.TryParse(literal, out var address))
            {
                socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(literal, port, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            throw new DatamoverException($"Cannot connect to {host}:{port} over TCP: {e.Message}", e);
        }
        catch
        {
            socket?.Dispose();
            throw;
        }
        return new TcpInitiatorDatamover(socket, _logger);
    }
}
