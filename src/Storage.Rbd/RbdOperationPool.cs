using System.Collections.Concurrent;

namespace Iser.Storage.Rbd;

/// <summary>Reusable <see cref="RbdOperation"/>s of one image, so a request allocates nothing managed after warm-up.</summary>
internal sealed class RbdOperationPool : IDisposable
{
    private readonly ConcurrentQueue<RbdOperation> _free = new();
    private volatile bool _disposed;

    public RbdOperation Rent() => _free.TryDequeue(out var operation) ? operation : new RbdOperation(this);

    public void Return(RbdOperation operation)
    {
        if (_disposed) operation.Dispose();
        else _free.Enqueue(operation);
    }

    /// <summary>Frees the idle operations (after the image closed, so none is in flight).</summary>
    public void Dispose()
    {
        _disposed = true;
        while (_free.TryDequeue(out var operation)) operation.Dispose();
    }
}
