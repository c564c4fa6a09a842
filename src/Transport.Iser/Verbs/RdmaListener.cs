using System.Net;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// Passive side of rdma_cm: an id bound to an address and listening. Connect requests are taken
/// one at a time with <see cref="GetConnectRequest"/>; each comes with the connector's private
/// data and is accepted or rejected by the caller.
/// </summary>
public sealed class RdmaListener : IDisposable
{
    private readonly RdmaCmEventChannel _channel;
    private readonly RdmaCmId _id;

    private RdmaListener(RdmaCmEventChannel channel, RdmaCmId id, IPEndPoint requested)
    {
        _channel = channel;
        _id = id;
        LocalEndPoint = new IPEndPoint(requested.Address, id.SourcePort);
    }

    /// <summary>The bound address with the actual port (when port 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>rdma_bind_addr + rdma_listen.</summary>
    public static RdmaListener Start(IPEndPoint address, int backlog = 16)
    {
        RdmaRuntime.EnsureSupported();
        RdmaCmEventChannel channel = new();
        RdmaCmId? id = null;
        try
        {
            id = new RdmaCmId(channel);
            id.BindAddress(address);
            id.Listen(backlog);
            return new RdmaListener(channel, id, address);
        }
        catch
        {
            id?.Dispose();
            channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for the next connect request; null on timeout.
    /// Events other than connect requests on the listening id are skipped, except device removal.
    /// </summary>
    public RdmaConnectRequest? GetConnectRequest(int timeoutMs)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            int remaining = timeoutMs < 0 ? -1 : (int)Math.Max(0, deadline - Environment.TickCount64);
            RdmaCmEvent? evt = _channel.GetEvent(remaining);
            if (evt is null)
            {
                return null;
            }

            switch (evt.Type)
            {
                case RdmaCmEventType.ConnectRequest:
                    return RdmaConnectRequest.Adopt(evt);
                case RdmaCmEventType.DeviceRemoval:
                    throw new RdmaCmEventException("listening for RDMA connections", "the RDMA device was removed.", evt);
                default:
                    continue;
            }
        }
    }

    public void Dispose()
    {
        _id.Dispose();
        _channel.Dispose();
    }
}
