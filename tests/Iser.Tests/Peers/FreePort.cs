using System.Net;
using System.Net.Sockets;

namespace Iser.Tests.Peers;

/// <summary>Loopback TCP ports for peers that must be told their port up front.</summary>
public static class FreePort
{
    /// <summary>
    /// A port that was free on 127.0.0.1 a moment ago. The kernel hands out ephemeral ports in sequence,
    /// so another process reusing it before the peer binds is unlikely; peers that fail to bind are retried by callers.
    /// </summary>
    public static int OnLoopback()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Waits until something accepts TCP connections on 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task WaitUntilListeningAsync(int port, TimeSpan timeout, Func<bool>? stillAlive = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                if (stillAlive is not null && !stillAlive())
                    throw new InvalidOperationException($"The process meant to listen on 127.0.0.1:{port} exited first.");
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"Nothing listened on 127.0.0.1:{port} within {timeout.TotalSeconds:0.#} s.");
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
    }
}
