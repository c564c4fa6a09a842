namespace Iser.Core.Datamover;

/// <summary>A transport's active side: opens one initiator datamover connection to a target portal.</summary>
public interface IInitiatorTransport
{
    /// <summary>"tcp" or "iser".</summary>
    string TransportName { get; }

    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/>; throws <see cref="DatamoverException"/> with the reason in words.</summary>
    ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken);
}
