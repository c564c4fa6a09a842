using System.Threading.Tasks.Sources;

namespace Iser.Core.Threading;

/// <summary>
/// A reusable auto-reset signal with one waiter at a time, awaited as a ValueTask without allocating.
/// Set() before WaitAsync() is remembered; a failure wakes the waiter with an exception.
/// </summary>
public sealed class AsyncSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private readonly object _gate = new();
    private bool _pending;
    private bool _waiting;
    private Exception? _fault;

    public ValueTask WaitAsync()
    {
        lock (_gate)
        {
            if (_fault is not null) return ValueTask.FromException(_fault);
            if (_pending)
            {
                _pending = false;
                return ValueTask.CompletedTask;
            }
            if (_waiting) throw new InvalidOperationException("AsyncSignal supports one waiter at a time.");
            _waiting = true;
            _core.Reset();
            return new ValueTask(this, _core.Version);
        }
    }

    public void Set()
    {
        lock (_gate)
        {
            if (_waiting)
            {
                _waiting = false;
                _core.SetResult(true);
            }
            else _pending = true;
        }
    }

    public void Fault(Exception error)
    {
        lock (_gate)
        {
            _fault ??= error;
            if (_waiting)
            {
                _waiting = false;
                _core.SetException(_fault);
            }
        }
    }

    /// <summary>Back to the initial state, for pooled owners.</summary>
    public void Reset()
    {
        lock (_gate)
        {
            _pending = false;
            _fault = null;
            if (_waiting)
            {
                _waiting = false;
                _core.SetException(new OperationCanceledException("Signal reset while waiting."));
            }
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
