// The lab tests' peer process. Usage:
//   Iser.LabPeer listen ADDRESS        prints "LISTENING <port>", accepts one connection
//   Iser.LabPeer connect ADDRESS PORT  connects to the test's listener
// then prints "ESTABLISHED" and serves PeerProtocol commands until BYE. Its buffer's keys travel
// in the CM private data (accept data when listening, connect data when connecting).
using System.Net;
using Iser.LabPeer;
using Iser.Transport.Iser.Verbs;

if (args.Length < 2 || args[0] is not ("listen" or "connect") || (args[0] == "connect" && args.Length < 3))
{
    Console.Error.WriteLine("usage: Iser.LabPeer listen ADDRESS | connect ADDRESS PORT");
    return 2;
}

// Short ACK timeout and few retries, like the test's side: a dead peer shows up within seconds.
RdmaConnectionOptions options = new()
{
    Capacities = new QueuePairCapacities(MaxSendWorkRequests: 16, MaxReceiveWorkRequests: 16, MaxSendSge: 1, MaxReceiveSge: 1),
    TimeoutMs = 20_000,
    AckTimeout = 16,
    RetryCount = 3,
};

IPAddress address = IPAddress.Parse(args[1]);
ProtectionDomain? pd = null;
PeerSession? session = null;

// The PD factory runs before rdma_connect / rdma_accept send the private data, so the buffer is
// registered there and its keys written into the very array passed as private data.
byte[] privateData = new byte[PeerProtocol.PrivateDataLength];
ProtectionDomain RegisterBuffer(RdmaDevice device)
{
    pd = device.AllocateProtectionDomain();
    session = new PeerSession(pd);
    session.PrivateData().CopyTo(privateData, 0);
    return pd;
}

RdmaConnection connection;
if (args[0] == "listen")
{
    using RdmaListener listener = RdmaListener.Start(new IPEndPoint(address, 0));
    Console.WriteLine($"LISTENING {listener.LocalEndPoint.Port}");
    using RdmaConnectRequest request = listener.GetConnectRequest(60_000)
        ?? throw new TimeoutException("no connect request within 60 s");
    connection = request.Accept(privateData, options, RegisterBuffer);
}
else
{
    connection = RdmaConnection.Connect(new IPEndPoint(address, int.Parse(args[2])), privateData, options, protectionDomainFactory: RegisterBuffer);
}

// The first receive is posted only now, after ESTABLISHED: the other side waits for the
// "ESTABLISHED" line before it sends anything.
int exitCode;
using (connection)
{
    session!.PostReceive(connection.QueuePair);
    Console.WriteLine("ESTABLISHED");
    exitCode = session.Serve(connection);
}

session.Dispose();
pd!.Dispose();
return exitCode;
