using Iser.Core.Datamover;

namespace Iser.Tests.Transport.FaultInjection;

/// <summary>
/// An initiator transport whose connections are <see cref="FaultInjectingDatamover"/>s over another transport's (TCP,
/// in-memory, iSER): the rules armed here apply to the PDUs of every connection it opens, counted across them.
/// </summary>
internal sealed class FaultInjectingTransport(IInitiatorTransport inner) : IInitiatorTransport
{
    private readonly List<FaultInjectingDatamover> _connections = new();

    public FaultPlan Plan { get; } = new();
    public string TransportName => inner.TransportName;

    public IReadOnlyList<FaultInjectingDatamover> Connections { get { lock (_connections) return [.. _connections]; } }

    public async ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var datamover = new FaultInjectingDatamover(await inner.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false), Plan);
        lock (_connections) _connections.Add(datamover);
        return datamover;
    }
}
