using System.Threading.Tasks.Sources;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// A batch of RDMA operations one task waits for: completions (on the CQ thread) count down, the waiter resumes on
/// the thread pool (never on the CQ thread, which must keep draining). Reused per task, so no per-I/O allocation.
/// </summary>
internal sealed class OperationGroup : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _pending;
    private Exception? _error;

    /// <summary>Arms the group for <paramref name="operations"/> completions.</summary>
    public void Start(int operations)
    {
        _core.Reset();
        _error = null;
        Volatile.Write(ref _pending, operations);
    }

    /// <summary>One operation finished (successfully when <paramref name="error"/> is null).</summary>
    public void Complete(Exception? error)
    {
        if (error is not null) Interlocked.CompareExchange(ref _error, error, null);
        if (Interlocked.Decrement(ref _pending) == 0) Finish();
    }

    /// <summary>Operations that were never posted: they will not complete, so they count as done with <paramref name="error"/>.</summary>
    public void Abandon(int operations, Exception error)
    {
        Interlocked.CompareExchange(ref _error, error, null);
        if (Interlocked.Add(ref _pending, -operations) == 0) Finish();
    }

    private void Finish()
    {
        if (_error is { } e) _core.SetException(e);
        else _core.SetResult(true);
    }

    public ValueTask WaitAsync() => new(this, _core.Version);

    public void GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
