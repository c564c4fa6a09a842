using System.Net;
using Iser.Core.Datamover;
using Iser.Transport.Iser.Protocol;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// Accepts iSER connections on one portal: rdma_cm passive side on the portal's address and port (the RDMA port
/// space: the same number as iSCSI/TCP's, no clash). Each connect request's iSER CM REQ private data is read and
/// answered with the CM REP flags (real virtual addresses, no Send with Invalidate). The connections accepted on one
/// device share its <see cref="TargetDeviceResources"/>: a PD, the RDMA bounce buffers, and by default one shared receive
/// queue, the control send buffers and a few CQ threads; all its connections share one rdma_cm event thread
/// (<see cref="ConnectionEventThread"/>).
/// </summary>
public sealed class IserDatamoverListener : IDatamoverListener
{
    private readonly RdmaListener _listener;
    private readonly IserOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _acceptGate = new(1, 1);
    private readonly Dictionary<IntPtr, TargetDeviceResources> _devices = new(); // by device context; under _acceptGate
    private readonly ConnectionEventThread _events = new("iser-cm listener");
    private volatile bool _disposed;

    /// <summary>Starts listening; throws <see cref="DatamoverException"/> with the reason when RDMA is unavailable or the address cannot be bound.</summary>
    public IserDatamoverListener(IPEndPoint endPoint, IserOptions? options = null, ILogger? logger = null)
    {
        _options = options ?? new IserOptions();
        _logger = logger ?? NullLogger.Instance;
        if (!RdmaRuntime.IsSupported)
            throw new DatamoverException($"Cannot listen for iSER on {endPoint}: {RdmaRuntime.NotSupportedReason}");
        try
        {
            _listener = RdmaListener.Start(endPoint);
        }
        catch (Exception e) when (e is VerbsException or RdmaCmEventException or PlatformNotSupportedException)
        {
            throw new DatamoverException($"Cannot listen for iSER on {endPoint}: {e.Message}", e);
        }
        LocalEndPoint = _listener.LocalEndPoint;
    }

    public string TransportName => "iser";
    public IPEndPoint LocalEndPoint { get; }

    public async ValueTask<ITargetDatamover> AcceptAsync(CancellationToken cancellationToken)
    {
        await _acceptGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // rdma_cm is blocking: wait for requests on a pool thread, in slices so cancellation and dispose are seen.
            return await Task.Run(() => AcceptBlocking(cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _acceptGate.Release();
        }
    }

    private ITargetDatamover AcceptBlocking(CancellationToken ct)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ct.ThrowIfCancellationRequested();
            using RdmaConnectRequest? request = _listener.GetConnectRequest(250);
            if (request is null) continue;
            var hello = IserCmPrivateData.Read(request.PrivateData);
            _logger.LogDebug("iSER connect request on {EndPoint}: ZBVA not used={Zbva}, Send with Invalidate not used={Sie}, initiator's RDMA READ depth {Depth}, RDMA READs it accepts {Accepts}",
                LocalEndPoint, hello.ZeroBasedVirtualAddressNotUsed, hello.SendWithInvalidateNotUsed, request.ResponderResources, request.InitiatorDepth);
            if (request.InitiatorDepth == 0)
                _logger.LogWarning("iSER connect request on {EndPoint}: the initiator accepts no RDMA READs (responder_resources 0), so SCSI writes on this connection will fail",
                    LocalEndPoint);
            try
            {
                // Receives go up before rdma_accept: the initiator sends its Login Request as soon as it is ESTABLISHED
                // (on a shared receive queue they are there already).
                TargetDeviceResources? resources = null;
                CompletionWorker? worker = null;
                var connectionOptions = _options.ConnectionOptions(target: true);
                int sendEntries = connectionOptions.Capacities.MaxSendWorkRequests;
                RdmaConnection connection;
                try
                {
                    if (_options.ShareConnectionResources)
                        connection = request.Prepare(connectionOptions, device => (resources = ResourcesFor(device)).QueuesFor(sendEntries, out worker));
                    else
                        connection = request.Prepare(connectionOptions, device => (resources = ResourcesFor(device)).DataBuffers.ProtectionDomain);
                }
                catch
                {
                    if (worker is not null) resources!.Abandon(worker, sendEntries); // the QP was not made on them
                    throw;
                }
                IserTargetDatamover datamover;
                try
                {
                    datamover = new IserTargetDatamover(connection, _options, _logger, resources!, worker, _events, LocalEndPoint.ToString(),
                        $"iser:{LocalEndPoint.Address}:{connection.CmId.DestinationPort}");
                }
                catch
                {
                    connection.Dispose();
                    if (worker is not null) resources!.Abandon(worker, sendEntries);
                    throw;
                }
                try
                {
                    connection.CompleteAccept(IserCmPrivateData.Default.ToArray());
                }
                catch
                {
                    // The datamover owns the registrations on the QP's PD: it frees them, then the QP.
                    _ = datamover.TerminateAsync("the RDMA accept failed");
                    throw;
                }
                datamover.StartWatchingConnectionEvents();
                _logger.LogInformation("Accepted an iSER connection on {EndPoint} from port {Port}", LocalEndPoint, connection.CmId.DestinationPort);
                return datamover;
            }
            catch (Exception e) when (e is VerbsException or RdmaCmEventException)
            {
                throw new DatamoverException($"Accepting an iSER connection on {LocalEndPoint} failed: {e.Message}", e);
            }
        }
    }

    /// <summary>The shared resources (and PD) of the device rdma_cm chose for a request, made on the device's first request.</summary>
    private TargetDeviceResources ResourcesFor(RdmaDevice device)
    {
        IntPtr context = device.Handle.DangerousGetHandle();
        if (!_devices.TryGetValue(context, out var resources))
        {
            resources = new TargetDeviceResources(device, _options, _logger, $"{LocalEndPoint} on {device.Name}");
            _devices.Add(context, resources);
            var buffers = resources.DataBuffers;
            _logger.LogInformation("iSER listener {EndPoint}: data buffers of {Size} B shared by its connections on {Device}, up to {Count} ({Mib} MiB) registered as load needs them",
                LocalEndPoint, buffers.BlockSize, device.Name, buffers.Capacity, (long)buffers.Capacity * buffers.BlockSize >> 20);
            if (resources.Receives is { } receives)
                _logger.LogInformation("iSER listener {EndPoint}: one shared receive queue on {Device} ({Base} buffers of {Size} B and {Per} per connection, up to {Limit}), control send buffers from one pool, up to {Threads} CQ threads",
                    LocalEndPoint, device.Name, SharedReceives.BasePosted, receives.BlockSize, SharedReceives.PerConnection, receives.Limit, _options.CompletionThreads);
        }
        return resources;
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        // Wait for a blocked accept to notice (it looks every 250 ms) before the listening id goes away.
        await _acceptGate.WaitAsync().ConfigureAwait(false);
        try
        {
            _listener.Dispose();
            // The connections still open keep their pool until they are freed.
            foreach (var resources in _devices.Values) resources.RemoveUser();
            _devices.Clear();
            _events.Close();
        }
        finally
        {
            _acceptGate.Release();
        }
    }
}
