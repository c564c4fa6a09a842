using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Iser.Core.Datamover;

namespace Iser.Transport.Tcp;

/// <summary>
/// For a writer whose sends never wait (<see cref="SocketSyscalls.TrySend"/>): when the socket's buffer is full, a
/// thread of this connection sleeps in poll(2) until there is room and resumes the writer on itself, so no pool thread
/// blocks and the socket never meets the runtime's epoll thread. The thread starts at the first full buffer (4 KiB
/// commands never fill one) and ends with the connection.
/// <code>
///   writer: TrySend → full → await WaitAsync() ─┐
///   thread: idle ◀───────────── resumes writer ◀─┴─ poll(POLLOUT) → room (or an error the next send reports)
/// </code>
/// </summary>
internal sealed class SocketWritableWaiter(Socket socket, string name) : IValueTaskSource
{
    private const int PollSliceMilliseconds = 200; // how soon a stopped connection's thread notices
    private readonly object _gate = new(); // Monitor: the thread waits on it
    private ManualResetValueTaskSourceCore<bool> _core; // continuations run inline: the writer resumes on this thread
    private bool _requested; // under _gate
    private bool _stopped;   // under _gate
    private Thread? _thread;

    /// <summary>Completes when the socket can take more bytes (or has failed); the caller continues on the waiting thread.</summary>
    public ValueTask WaitAsync()
    {
        lock (_gate)
        {
            if (_stopped) throw new DatamoverException("Connection is closed; PDU not sent.");
            _core.Reset();
            _requested = true;
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = $"iscsi-tcp-send {name}" };
                _thread.Start();
            }
            else
            {
                Monitor.PulseAll(_gate);
            }
        }
        return new ValueTask(this, _core.Version);
    }

    /// <summary>The connection is closing: a waiting writer is resumed (its next send fails), the thread ends.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.PulseAll(_gate);
        }
    }

    private void Run()
    {
        while (true)
        {
            lock (_gate)
            {
                while (!_requested && !_stopped) Monitor.Wait(_gate);
                if (!_requested) return;
                _requested = false;
            }
            Exception? error = null;
            try
            {
                while (!SocketSyscalls.WaitWritable(socket.SafeHandle, PollSliceMilliseconds))
                {
                    lock (_gate) if (_stopped) break;
                }
            }
            catch (Exception e)
            {
                error = e;
            }
            if (error is null) _core.SetResult(true);
            else _core.SetException(error);
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
