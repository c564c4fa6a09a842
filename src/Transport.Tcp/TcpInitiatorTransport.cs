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
    private readonly bool _receiveThread;

    public TcpInitiatorTransport(ILogger? logger = null, TcpInitiatorOptions? options = null)
    {
        _logger = logger ?? NullLogger.Instance;
        _receiveThread = (options ?? new TcpInitiatorOptions()).ReceiveThread && SocketSyscalls.IsSupported;
    }

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
                var endPoint = new IPEndPoint(address, port);
                if (_receiveThread) await ConnectBlockingAsync(socket, s => s.Connect(endPoint), cancellationToken).ConfigureAwait(false);
                else await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                if (_receiveThread) await ConnectBlockingAsync(socket, s => s.Connect(literal, port), cancellationToken).ConfigureAwait(false);
                else await socket.ConnectAsync(literal, port, cancellationToken).ConfigureAwait(false);
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
        return new TcpInitiatorDatamover(socket, _logger, _receiveThread);
    }

    /// <summary>
    /// A blocking connect on a short-lived thread of its own: an asynchronous one would register the socket with the
    /// runtime's epoll thread for good (see <see cref="TcpInitiatorOptions.ReceiveThread"/>). Cancelling closes the socket,
    /// which ends the connect.
    /// </summary>
    private static async Task ConnectBlockingAsync(Socket socket, Action<Socket> connect, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                connect(socket);
                done.TrySetResult();
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        }) { IsBackground = true, Name = "iscsi-tcp-connect" };
        thread.Start();
        await using (cancellationToken.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket).ConfigureAwait(false))
        {
            try
            {
                await done.Task.ConfigureAwait(false);
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested && e is SocketException or ObjectDisposedException)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }
    }
}
