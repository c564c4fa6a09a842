using System.Net;

namespace Iser.Core.Datamover;

/// <summary>A transport's passive side on one portal: yields target datamover connections.</summary>
public interface IDatamoverListener : IAsyncDisposable
{
    string TransportName { get; }
    IPEndPoint LocalEndPoint { get; }
    ValueTask<ITargetDatamover> AcceptAsync(CancellationToken cancellationToken);
}
