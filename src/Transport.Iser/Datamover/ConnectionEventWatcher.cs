using Iser.Core.Datamover;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// Follows a connection's rdma_cm events: DISCONNECTED ends the connection (the peer's close, or the echo of our own),
/// DEVICE_REMOVAL fails it; the rest is logged. Watched by the listener's <see cref="ConnectionEventThread"/> (a
/// target's connections) or by a thread of its own (an initiator's), which polls in slices so <see cref="Stop"/> is seen.
/// </summary>
internal sealed class ConnectionEventWatcher
{
    private readonly RdmaConnection _rdma;
    private readonly ConnectionLifetime _lifetime;
    private readonly ILogger _logger;
    private readonly string _remote;
    private readonly ConnectionEventThread? _shared;
    private readonly Thread? _thread;
    private volatile bool _stopping;
    private bool _broken; // reading the channel failed: the connection was failed, nothing more is read

    /// <param name="shared">The listener's event thread; null for a thread of this connection's own.</param>
    public ConnectionEventWatcher(RdmaConnection rdma, ConnectionLifetime lifetime, ILogger logger, string remoteEndPoint, ConnectionEventThread? shared)
    {
        _rdma = rdma;
        _lifetime = lifetime;
        _logger = logger;
        _remote = remoteEndPoint;
        _shared = shared;
        if (shared is null) _thread = new Thread(Run) { IsBackground = true, Name = $"iser-cm {remoteEndPoint}" };
    }

    internal int FileDescriptor => _rdma.EventChannel.FileDescriptor;

    /// <summary>Starts watching; once the connection is ESTABLISHED (the acceptor waits for that event itself).</summary>
    public void Start()
    {
        if (_shared is not null) _shared.Add(this);
        else _thread!.Start();
    }

    /// <summary>Stops watching and waits for an event being handled (unless called while handling one, or never started).</summary>
    public void Stop()
    {
        _stopping = true;
        if (_shared is not null) _shared.Remove(this);
        else if (Thread.CurrentThread != _thread && (_thread!.ThreadState & ThreadState.Unstarted) == 0) _thread.Join();
    }

    /// <summary>The shared thread saw the channel readable: handles every event queued on it.</summary>
    internal void HandleReadyEvents()
    {
        while (!_broken && !_stopping && Next(0) is { } evt) Handle(evt);
    }

    private void Run()
    {
        while (!_broken && !_stopping)
        {
            if (Next(200) is { } evt) Handle(evt);
        }
    }

    private RdmaCmEvent? Next(int timeoutMs)
    {
        try
        {
            return _rdma.WaitForEvent(timeoutMs);
        }
        catch (Exception e)
        {
            _broken = true;
            if (!_stopping) _lifetime.Fail(new DatamoverException($"Watching the RDMA connection manager failed: {e.Message}", e));
            return null;
        }
    }

    private void Handle(RdmaCmEvent evt)
    {
        switch (evt.Type)
        {
            case RdmaCmEventType.Disconnected:
                _logger.LogDebug("{Remote}: {Event}", _remote, evt);
                // A clean close from the peer: the reader sees end of stream, then teardown.
                _lifetime.PeerDisconnected();
                break;
            case RdmaCmEventType.DeviceRemoval:
                _lifetime.Fail(new DatamoverException($"The RDMA device under the connection to {_remote} was removed."));
                break;
            case RdmaCmEventType.TimewaitExit:
                _logger.LogDebug("{Remote}: timewait over", _remote);
                break;
            default:
                _logger.LogDebug("{Remote}: rdma_cm event {Event}", _remote, evt);
                break;
        }
    }
}
