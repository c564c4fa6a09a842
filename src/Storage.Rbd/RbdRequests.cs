using Iser.Storage.Rbd.Native;

namespace Iser.Storage.Rbd;

/// <summary>
/// Submits one rbd_aio_* request: pins the buffers into a pooled <see cref="RbdOperation"/>, creates its completion and
/// hands both to librbd; the returned task ends when librbd calls back (or at once when librbd refuses the request).
/// </summary>
internal static unsafe class RbdRequests
{
    public static ValueTask<RbdCompletion> Read(SafeRbdImageHandle image, RbdOperationPool pool, long offset, Memory<byte> destination)
    {
        var operation = pool.Rent();
        var pin = destination.Pin();
        nint completion = operation.Begin(pin);
        int rc = LibRbd.Read(image, (ulong)offset, (nuint)destination.Length, (byte*)pin.Pointer, completion);
        return rc < 0 ? operation.Rejected(completion, rc) : operation.Task;
    }

    public static ValueTask<RbdCompletion> Write(SafeRbdImageHandle image, RbdOperationPool pool, long offset, ReadOnlyMemory<byte> source)
    {
        var operation = pool.Rent();
        var pin = source.Pin();
        nint completion = operation.Begin(pin);
        int rc = LibRbd.Write(image, (ulong)offset, (nuint)source.Length, (byte*)pin.Pointer, completion);
        return rc < 0 ? operation.Rejected(completion, rc) : operation.Task;
    }

    public static ValueTask<RbdCompletion> Discard(SafeRbdImageHandle image, RbdOperationPool pool, long offset, long length)
    {
        var operation = pool.Rent();
        nint completion = operation.Begin();
        int rc = LibRbd.Discard(image, (ulong)offset, (ulong)length, completion);
        return rc < 0 ? operation.Rejected(completion, rc) : operation.Task;
    }

    public static ValueTask<RbdCompletion> WriteSame(SafeRbdImageHandle image, RbdOperationPool pool, long offset, long length, ReadOnlyMemory<byte> pattern)
    {
        var operation = pool.Rent();
        var pin = pattern.Pin();
        nint completion = operation.Begin(pin);
        int rc = LibRbd.WriteSame(image, (ulong)offset, (nuint)length, (byte*)pin.Pointer, (nuint)pattern.Length, completion, 0);
        return rc < 0 ? operation.Rejected(completion, rc) : operation.Task;
    }

    public static ValueTask<RbdCompletion> CompareAndWrite(SafeRbdImageHandle image, RbdOperationPool pool, long offset, ReadOnlyMemory<byte> compare, ReadOnlyMemory<byte> write)
    {
        var operation = pool.Rent();
        var comparePin = compare.Pin();
        var writePin = write.Pin();
        nint completion = operation.Begin(comparePin, writePin);
        long rc = LibRbd.CompareAndWrite(image, (ulong)offset, (nuint)write.Length, (byte*)comparePin.Pointer, (byte*)writePin.Pointer,
            completion, operation.MismatchSlot, 0);
        return rc < 0 ? operation.Rejected(completion, rc) : operation.Task;
    }

    public static ValueTask<RbdCompletion> Flush(SafeRbdImageHandle image, RbdOperationPool pool)
    {
        var operation = pool.Rent();
        nint completion = operation.Begin();
        int rc = LibRbd.Flush(image, completion);
        return rc < 0 ? operation.Rejected(completion, rc) : operation.Task;
    }
}
