using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Iser.Storage.Rbd.Native;

namespace Iser.Storage.Rbd;

/// <summary>
/// One asynchronous librbd request in flight, reused through <see cref="RbdOperationPool"/>: the completion's argument
/// is a GCHandle to this object (allocated once), the buffers stay pinned until librbd calls back, and the awaiting
/// task resumes on the thread pool, never on librbd's callback thread (which serves every other completion too).
/// </summary>
internal sealed unsafe class RbdOperation : IValueTaskSource<RbdCompletion>, IDisposable
{
    private readonly RbdOperationPool _pool;
    private readonly GCHandle _self;
    private readonly ulong* _mismatch = (ulong*)NativeMemory.Alloc(sizeof(ulong));
    private ManualResetValueTaskSourceCore<RbdCompletion> _core = new() { RunContinuationsAsynchronously = true };
    private MemoryHandle _first, _second;

    public RbdOperation(RbdOperationPool pool)
    {
        _pool = pool;
        _self = GCHandle.Alloc(this);
    }

    /// <summary>Where librbd writes the offset of the first difference of a compare-and-write; valid until completion.</summary>
    public ulong* MismatchSlot => _mismatch;

    /// <summary>Takes the pins of the request's buffers (released at completion) and creates its librbd completion.</summary>
    public nint Begin(MemoryHandle first = default, MemoryHandle second = default)
    {
        _first = first;
        _second = second;
        *_mismatch = 0;
        int rc = LibRbd.CreateCompletion(GCHandle.ToIntPtr(_self), &OnComplete, out nint completion);
        if (rc < 0)
        {
            Unpin();
            throw CephException.From(-rc, "Creating an rbd completion");
        }
        return completion;
    }

    /// <summary>The submission itself failed (rc &lt; 0): librbd will not call back, so the request ends here.</summary>
    public ValueTask<RbdCompletion> Rejected(nint completion, long rc)
    {
        LibRbd.Release(completion);
        Complete(rc);
        return Task;
    }

    public ValueTask<RbdCompletion> Task => new(this, _core.Version);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnComplete(nint completion, nint argument)
    {
        // An exception must not cross into librbd's thread: there is none to expect here, and the task gets the result.
        var operation = (RbdOperation)GCHandle.FromIntPtr(argument).Target!;
        long rc = LibRbd.GetReturnValue(completion);
        LibRbd.Release(completion);
        operation.Complete(rc);
    }

    private void Complete(long rc)
    {
        Unpin();
        _core.SetResult(new RbdCompletion(rc, *_mismatch));
    }

    private void Unpin()
    {
        _first.Dispose();
        _second.Dispose();
        _first = default;
        _second = default;
    }

    public RbdCompletion GetResult(short token)
    {
        try { return _core.GetResult(token); }
        finally
        {
            _core.Reset();
            _pool.Return(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        if (_self.IsAllocated) _self.Free();
        NativeMemory.Free(_mismatch);
    }
}
