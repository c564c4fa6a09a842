using Iser.Core.Datamover;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// One thread on a connection's rdma_cm event channel: DISCONNECTED ends the connection (the peer's close, or the
/// echo of our own), DEVICE_REMOVAL fails it; the rest is logged. Polls in slices so <see cref="Stop"/> is seen.
/// </summary>
internal sealed class ConnectionEventWatcher
{
    private readonly RdmaConnection _rdma;
    private readonly ConnectionLifetime _lifetime;
    private readonly ILogger _logger;
    private readonly string _remote;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public ConnectionEventWatcher(RdmaConnection rdma, ConnectionLifetime lifetime, ILogger logger, string remoteEndPoint)
    {
        _rdma = rdma;
        _lifetime = lifetime;
        _logger = logger;
        _remote = remoteEndPoint;
        _thread = new Thread(Run) { IsBackground = true, Name = $"iser-cm {remoteEndPoint}" };
    }

    /// <summary>Starts watching; once the connection is ESTABLISHED (the acceptor waits for that event itself).</summary>
    public void Start() => _thread.Start();

    /// <summary>Stops the thread and waits for it (unless called on it, or it never started).</summary>
    public void Stop()
    {
        _stopping = true;
        if (Thread.CurrentThread != _thread && (_thread.ThreadState & ThreadState.Unstarted) == 0) _thread.Join();
    }

    private void Run()
    {
        while (!_stopping)
        {
            RdmaCmEvent? evt;
            try
            {
                evt = _rdma.WaitForEvent(200);
            }
            catch (Exception e)
            {
                if (!_stopping) _lifetime.Fail(new DatamoverException($"Watching the RDMA connection manager failed: {e.Message}", e));
                return;
            }
            if (evt is null) continue;
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
}
