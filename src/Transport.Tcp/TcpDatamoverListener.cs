using System.Net;
using System.Net.Sockets;
using Iser.Core.Datamover;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Tcp;

/// <summary>Accepts iSCSI/TCP connections on one portal.</summary>
public sealed class TcpDatamoverListener : IDatamoverListener
{
    private readonly Socket _socket;
    private readonly ILogger _logger;

    public TcpDatamoverListener(IPEndPoint endPoint, ILogger logger)
    {
        _logger = logger;
        _socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            _socket.Bind(endPoint);
            _socket.Listen(128);
        }
        catch (SocketException e)
        {
            _socket.Dispose();
            throw new DatamoverException($"Cannot listen on {endPoint}: {e.Message}", e);
        }
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }
    public string TransportName => "tcp";

    public async ValueTask<ITargetDatamover> AcceptAsync(CancellationToken cancellationToken)
    {
        var socket = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
        return new TcpTargetDatamover(socket, _logger);
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
