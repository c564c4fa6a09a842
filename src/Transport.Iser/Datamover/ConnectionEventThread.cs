using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// One thread that watches the rdma_cm event channels of many connections (a listener's) with one poll(2), instead of
/// a thread per connection. A connection is added once it is established and removed before its channel is freed;
/// <see cref="Remove"/> waits for a dispatch in progress, so no event of a removed connection is handled afterwards.
/// The thread ends once its owner is closed and the last connection is gone.
/// </summary>
internal sealed unsafe class ConnectionEventThread
{
    private const int PollTimeoutMs = 200;
    private readonly Lock _gate = new();
    private readonly Thread _thread;
    private ConnectionEventWatcher[] _watchers = []; // copy-on-write under _gate
    private volatile bool _closed;
    private bool _started;

    public ConnectionEventThread(string name) => _thread = new Thread(Run) { IsBackground = true, Name = name };

    /// <summary>Connections watched now.</summary>
    public int Count => Volatile.Read(ref _watchers).Length;

    public void Add(ConnectionEventWatcher watcher)
    {
        lock (_gate)
        {
            _watchers = [.. _watchers, watcher];
            if (_started) return;
            _started = true;
        }
        _thread.Start();
    }

    /// <summary>Stops watching <paramref name="watcher"/>; returns once no event of it is being handled.</summary>
    public void Remove(ConnectionEventWatcher watcher)
    {
        lock (_gate) _watchers = Array.FindAll(_watchers, w => !ReferenceEquals(w, watcher));
    }

    /// <summary>The owner (the listener) is gone: the thread ends when its last connection does.</summary>
    public void Close() => _closed = true;

    private void Run()
    {
        ConnectionEventWatcher[] polled = [];
        LibC.PollFd[] fds = [];
        while (true)
        {
            var watchers = Volatile.Read(ref _watchers);
            if (watchers.Length == 0 && _closed) return;
            if (!ReferenceEquals(watchers, polled))
            {
                // Rebuilt only when a connection comes or goes.
                polled = watchers;
                fds = new LibC.PollFd[watchers.Length];
                for (int i = 0; i < fds.Length; i++) fds[i] = new LibC.PollFd { Fd = watchers[i].FileDescriptor, Events = LibC.PollIn };
            }
            int ready;
            fixed (LibC.PollFd* p = fds) ready = LibC.poll(p, (nuint)fds.Length, PollTimeoutMs);
            if (ready <= 0) continue; // timeout, EINTR, or a channel freed meanwhile (its watcher was removed first)
            lock (_gate)
            {
                var current = _watchers;
                for (int i = 0; i < fds.Length; i++)
                {
                    if (fds[i].Revents == 0) continue;
                    fds[i].Revents = 0;
                    // Removed while poll waited: its channel may be gone.
                    if (Array.IndexOf(current, polled[i]) >= 0) polled[i].HandleReadyEvents();
                }
            }
        }
    }
}
