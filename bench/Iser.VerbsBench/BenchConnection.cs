using System.Net;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;

namespace Iser.VerbsBench;

/// <summary>
/// Both ends of one RC connection in this process (listener and client on the same rxe address,
/// as perftest's server and client are in the lab), each with registered blocks of the message size.
/// </summary>
internal sealed class BenchConnection : IDisposable
{
    private BenchConnection(RdmaListener listener, RdmaConnection server, RdmaConnection client, int blockSize, int blocks)
    {
        Listener = listener;
        Server = server;
        Client = client;
        ServerPool = new RegisteredBufferPool(server.ProtectionDomain, blockSize, blocks);
        ClientPool = new RegisteredBufferPool(client.ProtectionDomain, blockSize, blocks);
    }

    public RdmaListener Listener { get; }

    public RdmaConnection Server { get; }

    public RdmaConnection Client { get; }

    public RegisteredBufferPool ServerPool { get; }

    public RegisteredBufferPool ClientPool { get; }

    public static BenchConnection Open(IPAddress address, RdmaConnectionOptions options, int blockSize, int blocks)
    {
        RdmaListener listener = RdmaListener.Start(new IPEndPoint(address, 0));
        Task<RdmaConnection> client = Task.Run(() => RdmaConnection.Connect(listener.LocalEndPoint, [], options));
        using RdmaConnectRequest request = listener.GetConnectRequest(60_000) ?? throw new TimeoutException("no connect request within 60 s");
        RdmaConnection server = request.Accept([], options);
        return new BenchConnection(listener, server, client.GetAwaiter().GetResult(), blockSize, blocks);
    }

    public void Dispose()
    {
        ClientPool.Dispose();
        ServerPool.Dispose();
        Client.Dispose();
        Server.Dispose();
        Listener.Dispose();
    }
}
