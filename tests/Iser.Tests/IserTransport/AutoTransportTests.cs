using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Fallback;
using Iser.Transport.Iser.Verbs;
using Iser.Transport.Tcp;

namespace Iser.Tests.IserTransport;

/// <summary>The Auto transport: iSER when it connects, else TCP with the reason.</summary>
public sealed class AutoTransportTests
{
    private sealed class FailingTransport(string name, string reason) : IInitiatorTransport
    {
        public int Attempts;
        public string TransportName => name;
        public ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
        {
            Attempts++;
            throw new DatamoverException(reason);
        }
    }

    [Fact]
    public async Task NoRdmaSupportSkipsIserAndLogsTheReasonThenLogsInOverTcp()
    {
        await using var target = InProcessTarget.Start();
        var iser = new FailingTransport("iser", "must not be tried");
        var log = new CapturedLog();
        var auto = new AutoInitiatorTransport(iser, new TcpInitiatorTransport(), () => "libibverbs.so.1 is not installed", log.CreateLogger("fallback"));
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions(), auto);
        Assert.Equal(0, iser.Attempts);
        Assert.Equal("tcp", auto.TransportName);
        Assert.Equal("libibverbs.so.1 is not installed", auto.LastFallbackReason);
        Assert.Contains(log.Lines, m => m.Contains("using TCP") && m.Contains("libibverbs.so.1 is not installed"));
        var lun = await session.OpenLunAsync(0);
        Assert.True(lun.BlockCount > 0);
    }

    [Fact]
    public async Task IserRefusedFallsBackToTcpWithTheRefusal()
    {
        await using var target = InProcessTarget.Start();
        var iser = new FailingTransport("iser", "Cannot connect to 127.0.0.1 over iSER: RDMA_CM_EVENT_REJECTED (status 28)");
        var auto = new AutoInitiatorTransport(iser, new TcpInitiatorTransport(), () => null);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions(), auto);
        Assert.Equal(1, iser.Attempts);
        Assert.Equal("tcp", session.TransportName);
        Assert.Contains("REJECTED", auto.LastFallbackReason);
    }

    [NoRdmaFact]
    public async Task FactoryAutoOnAMachineWithoutRdmaUsesTcpAndSaysWhy()
    {
        await using var target = InProcessTarget.Start();
        var transport = InitiatorTransports.Create(TransportKind.Auto);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions(), transport);
        Assert.Equal("tcp", transport.TransportName);
        Assert.Equal(RdmaRuntime.NotSupportedReason, ((AutoInitiatorTransport)transport).LastFallbackReason);
    }

    [NoRdmaFact]
    public async Task FactoryIserOnAMachineWithoutRdmaFailsWithTheRuntimeReason()
    {
        var transport = InitiatorTransports.Create(TransportKind.Iser);
        var e = await Assert.ThrowsAsync<DatamoverException>(async () => await transport.ConnectAsync("127.0.0.1", 3260, CancellationToken.None));
        Assert.Contains(RdmaRuntime.NotSupportedReason!, e.Message);
        Assert.True(InitiatorTransports.TryParse("AUTO", out var kind) && kind == TransportKind.Auto);
        Assert.False(InitiatorTransports.TryParse("rdma", out _));
    }

    [NoRdmaFact]
    public void IserListenerOnAMachineWithoutRdmaRefusesWithTheReason()
    {
        var e = Assert.Throws<DatamoverException>(() => new global::Iser.Transport.Iser.Datamover.IserDatamoverListener(
            new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)));
        Assert.Contains("Cannot listen for iSER on 127.0.0.1:0", e.Message);
        Assert.Contains(RdmaRuntime.NotSupportedReason!, e.Message);
    }
}
