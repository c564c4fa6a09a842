using System.Net;
using System.Threading.Channels;
using Iser.Core.Datamover;

namespace Iser.Tests.Transport.InMemory;

/// <summary>
/// A transport with no socket, for testing the protocol fast and deterministically: give it to
/// <c>IscsiTarget.Listen</c> as the listener and to <c>IscsiSession.ConnectAsync</c> as the initiator transport, with
/// the portal <see cref="Host"/>:<see cref="Port"/>. Each connect makes an <see cref="InMemoryConnection"/>, whose
/// target end the listener yields; data moves by direct placement, as on iSER. <see cref="Connections"/> lets a test
/// break a connection (<see cref="InMemoryConnection.Kill"/>).
/// </summary>
public sealed class InMemoryTransport : IDatamoverListener, IInitiatorTransport
{
    public const string Host = "memory";
    private static int s_lastPort;

    private readonly Channel<InMemoryTargetDatamover> _accepts = Channel.CreateUnbounded<InMemoryTargetDatamover>();
    private readonly List<InMemoryConnection> _connections = [];
    private readonly Lock _gate = new();
    private volatile bool _closed;

    public InMemoryTransport()
    {
        // A port number of its own per instance, so a session aimed at another test's target is refused.
        Port = Interlocked.Increment(ref s_lastPort);
        // Nominal: the core wants an IP endpoint for a listener (logs, SendTargets), and nothing routes to it.
        LocalEndPoint = new IPEndPoint(IPAddress.Loopback, Port);
    }

    public string TransportName => "memory";
    public int Port { get; }
    /// <summary>"memory:port", as the session names the portal.</summary>
    public string Portal => $"{Host}:{Port}";
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Every connection made so far, in order (closed ones included).</summary>
    public IReadOnlyList<InMemoryConnection> Connections
    {
        get
        {
            lock (_gate) return _connections.ToArray();
        }
    }

    public ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (host != Host || port != Port)
            throw new DatamoverException($"Cannot connect to {host}:{port} in memory: this transport's portal is {Portal}.");
        InMemoryConnection connection;
        lock (_gate)
        {
            if (_closed) throw new DatamoverException($"Cannot connect to {Portal} in memory: the listener is closed (connection refused).");
            connection = new InMemoryConnection(Portal, _connections.Count + 1);
            _connections.Add(connection);
        }
        if (!_accepts.Writer.TryWrite(connection.Target))
        {
            connection.Kill("the listener closed");
            throw new DatamoverException($"Cannot connect to {Portal} in memory: the listener is closed (connection refused).");
        }
        return ValueTask.FromResult<IInitiatorDatamover>(connection.Initiator);
    }

    public async ValueTask<ITargetDatamover> AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _accepts.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // As a disposed listening socket: the target's accept loop ends on this.
            throw new ObjectDisposedException(nameof(InMemoryTransport), $"The in-memory listener {Portal} is closed.");
        }
    }

    /// <summary>Stops accepting: later connects are refused, connections not yet accepted break. Accepted ones live on.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate) _closed = true;
        _accepts.Writer.TryComplete();
        while (_accepts.Reader.TryRead(out var unaccepted)) unaccepted.Connection.Kill("the listener closed before accepting it");
        return ValueTask.CompletedTask;
    }

    public override string ToString() => Portal;
}
