using System.Net;
using System.Net.Sockets;

namespace Iser.Tests.Initiator;

/// <summary>
/// A TCP relay between the initiator and a target that a test can break: <see cref="Freeze"/> stops passing the
/// target's bytes (a silent target), <see cref="KillConnections"/> resets every relayed connection.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly int _targetPort;
    private readonly List<(Socket Client, Socket Upstream)> _pairs = new();
    private readonly CancellationTokenSource _stop = new();
    private volatile bool _frozen;
    private int _accepted;

    public FaultProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _ = AcceptLoopAsync();
    }

    public int Port { get; }
    public int AcceptedConnections => Volatile.Read(ref _accepted);

    /// <summary>Bytes from the target are swallowed from now on; the connection stays open.</summary>
    public void Freeze() => _frozen = true;

    public void KillConnections()
    {
        lock (_pairs)
        {
            foreach (var (client, upstream) in _pairs)
            {
                try { client.LingerState = new LingerOption(true, 0); } catch { }
                client.Dispose();
                upstream.Dispose();
            }
            _pairs.Clear();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token); }
            catch { return; }
            Interlocked.Increment(ref _accepted);
            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try { await upstream.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _targetPort)); }
            catch
            {
                client.Dispose();
                upstream.Dispose();
                continue;
            }
            lock (_pairs) _pairs.Add((client, upstream));
            _ = PumpAsync(client, upstream, fromTarget: false);
            _ = PumpAsync(upstream, client, fromTarget: true);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool fromTarget)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0) break;
                if (fromTarget && _frozen) continue;
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
            }
        }
        catch { }
        try { to.Shutdown(SocketShutdown.Send); } catch { }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        KillConnections();
        return ValueTask.CompletedTask;
    }
}
