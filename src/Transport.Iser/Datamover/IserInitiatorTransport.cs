using System.Net;
using System.Net.Sockets;
using Iser.Core.Datamover;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// Opens iSER connections: resolves the portal's address and route with rdma_cm, connects with the iSER CM REQ
/// private data and waits for ESTABLISHED. Each failure is a <see cref="DatamoverException"/> whose sentence says
/// which step failed (no RDMA device, no route, refused), which <see cref="AutoInitiatorTransport"/> logs.
/// </summary>
public sealed class IserInitiatorTransport : IInitiatorTransport
{
    private readonly IserOptions _options;
    private readonly ILogger _logger;

    public IserInitiatorTransport(IserOptions? options = null, ILogger? logger = null)
    {
        _options = options ?? new IserOptions();
        _logger = logger ?? NullLogger.Instance;
    }

    public string TransportName => "iser";

    public async ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        if (!RdmaRuntime.IsSupported)
            throw new DatamoverException($"Cannot connect to {host}:{port} over iSER: {RdmaRuntime.NotSupportedReason}");
        IPAddress address = await ResolveAsync(host, port, cancellationToken).ConfigureAwait(false);
        var remote = new IPEndPoint(address, port);
        var connectionOptions = _options.ConnectionOptions(target: false);
        int sendEntries = connectionOptions.Capacities.MaxSendWorkRequests;
        InitiatorDeviceResources? shared = null;
        CompletionWorker? worker = null;
        // rdma_cm's control path blocks (bounded by ConnectTimeoutMs per step): keep it off the caller's thread.
        RdmaConnection connection = await Task.Run(() =>
        {
            try
            {
                // By default the QP is built on the initiators' shared receive queue and a shared CQ (and its thread).
                Func<RdmaDevice, SharedQueues>? queues = _options.ShareConnectionResources
                    ? device => InitiatorDeviceResources.QueuesFor(device, _options, _logger, sendEntries, out shared, out worker)
                    : null;
                return RdmaConnection.Connect(remote, IserCmPrivateData.Default.ToArray(), connectionOptions,
                    _options.SourceAddress is { } source ? new IPEndPoint(source, 0) : null, sharedQueues: queues);
            }
            catch (Exception e)
            {
                if (worker is not null) shared!.Abandon(worker, sendEntries); // no QP was built on them
                if (e is VerbsException or RdmaCmEventException or PlatformNotSupportedException)
                    throw new DatamoverException($"Cannot connect to {remote} over iSER: {e.Message}", e);
                throw;
            }
        }, cancellationToken).ConfigureAwait(false);
        IserInitiatorDatamover datamover;
        try
        {
            var reply = IserCmPrivateData.Read(connection.PeerPrivateData);
            _logger.LogDebug("iSER connection to {Remote} established (target: ZBVA not used={Zbva}, Send with Invalidate not used={Sie})",
                remote, reply.ZeroBasedVirtualAddressNotUsed, reply.SendWithInvalidateNotUsed);
            datamover = new IserInitiatorDatamover(connection, _options, _logger, shared, worker, $"iser:local:{connection.CmId.SourcePort}", $"iser:{remote}");
        }
        catch
        {
            connection.Dispose();
            if (worker is not null) shared!.Abandon(worker, sendEntries);
            throw;
        }
        datamover.StartWatchingConnectionEvents();
        return datamover;
    }

    private static async Task<IPAddress> ResolveAsync(string host, int port, CancellationToken ct)
    {
        string literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        if (IPAddress.TryParse(literal, out var address)) return address;
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(literal, ct).ConfigureAwait(false);
            return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
                ?? throw new DatamoverException($"Cannot connect to {host}:{port} over iSER: the name has no address.");
        }
        catch (SocketException e)
        {
            throw new DatamoverException($"Cannot connect to {host}:{port} over iSER: {e.Message}", e);
        }
    }
}
