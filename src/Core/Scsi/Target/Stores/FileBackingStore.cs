using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;

namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A regular file (or block device node) accessed with positioned reads and writes (<see cref="RandomAccess"/>).
/// With direct I/O (Linux O_DIRECT) the page cache is bypassed; a caller buffer that is not aligned for the
/// kernel goes through a pooled aligned bounce buffer. Discard punches holes where the file system allows,
/// otherwise writes zeros.
/// </summary>
public sealed class FileBackingStore : IBackingStore
{
    /// <summary>Offset, length and memory alignment demanded of O_DIRECT requests (the usual logical sector size).</summary>
    public const int DirectIoAlignment = 512;
    private const int BounceSize = 1 << 20;
    private const int PageAlignment = 4096;

    private static readonly ReadOnlyMemory<byte> Zeros = new byte[BounceSize];

    private readonly SafeFileHandle _handle;
    private readonly string _path;
    private readonly ConcurrentQueue<NativeAlignedBuffer> _bounceBuffers = new();
    private volatile bool _punchUnsupported;

    private FileBackingStore(SafeFileHandle handle, string path, long size, bool directIo)
    {
        _handle = handle;
        _path = path;
        _size = size;
        DirectIo = directIo;
    }

    /// <summary>
    /// Opens (or creates) <paramref name="path"/>. With <paramref name="size"/> the file is created or extended to
    /// that many bytes (never shrunk); without it the file must exist and its length is the store size.
    /// </summary>
    public static FileBackingStore Open(string path, long? size = null, bool directIo = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (size is <= 0) throw new ArgumentOutOfRangeException(nameof(size), $"The size of a file store must be positive, not {size}.");
        if (size is null && !File.Exists(path))
            throw new FileNotFoundException($"The backing file '{path}' does not exist; give a size to create it.", path);
        if (directIo && !OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("Direct I/O for file stores is only implemented on Linux.");
        if (directIo && size is { } s && s % DirectIoAlignment != 0)
            throw new ArgumentException($"With direct I/O the size must be a multiple of {DirectIoAlignment} bytes, not {s}.", nameof(size));

        var handle = File.OpenHandle(path, size is null ? FileMode.Open : FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            long length = RandomAccess.GetLength(handle);
            long effective = size ?? length;
            if (effective <= 0) throw new IOException($"The backing file '{path}' is empty; give a size to extend it.");
            if (directIo && effective % DirectIoAlignment != 0)
                throw new IOException($"With direct I/O the backing file '{path}' must be a multiple of {DirectIoAlignment} bytes long, not {effective}.");
            if (length < effective) RandomAccess.SetLength(handle, effective);
            if (directIo) LinuxFileControl.EnableDirectIo(handle, path);
            return new FileBackingStore(handle, path, effective, directIo);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private long _size;

    public long Size => Volatile.Read(ref _size);
    public bool DirectIo { get; }
    public bool CanGrow => true;

    /// <summary>Extends the file (ftruncate; the new space is a hole that reads as zeros), then takes requests there.</summary>
    public ValueTask GrowAsync(long newSize, CancellationToken cancellationToken = default)
    {
        long size = Size;
        if (newSize < size) throw new ArgumentOutOfRangeException(nameof(newSize), $"A store never shrinks: {newSize} bytes is less than its {size}.");
        if (DirectIo && newSize % DirectIoAlignment != 0)
            throw new ArgumentException($"With direct I/O the size must be a multiple of {DirectIoAlignment} bytes, not {newSize}.", nameof(newSize));
        cancellationToken.ThrowIfCancellationRequested();
        if (RandomAccess.GetLength(_handle) < newSize) RandomAccess.SetLength(_handle, newSize);
        Volatile.Write(ref _size, newSize);
        return ValueTask.CompletedTask;
    }
    public bool SupportsDiscard => !_punchUnsupported;
    public string Path => _path;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, destination.Length, Size);
        if (destination.IsEmpty) return ValueTask.CompletedTask;
        if (DirectIo)
        {
            CheckDirectAlignment(offset, destination.Length);
            return ReadDirectAsync(offset, destination, cancellationToken);
        }
        return ReadFullyAsync(offset, destination, cancellationToken);
    }

    // O_DIRECT needs the buffer aligned at the moment of the system call, so it stays pinned from the alignment check
    // until the I/O completes: a managed buffer checked and then released could be moved by the GC to an unaligned
    // address in between (seen as a rare EINVAL, i.e. CHECK CONDITION, under concurrent writes).
    private async ValueTask ReadDirectAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        using var pin = destination.Pin();
        if (!IsAligned(pin)) await ReadBouncedAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        else await ReadFullyAsync(offset, destination, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WriteDirectAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        using var pin = source.Pin();
        if (!IsAligned(pin)) await WriteBouncedAsync(offset, source, cancellationToken).ConfigureAwait(false);
        else await RandomAccess.WriteAsync(_handle, source, offset, cancellationToken).ConfigureAwait(false);
    }

    private static unsafe bool IsAligned(System.Buffers.MemoryHandle pin) => ((nuint)pin.Pointer & (DirectIoAlignment - 1)) == 0;

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, source.Length, Size);
        if (source.IsEmpty) return ValueTask.CompletedTask;
        if (DirectIo)
        {
            CheckDirectAlignment(offset, source.Length);
            return WriteDirectAsync(offset, source, cancellationToken);
        }
        return RandomAccess.WriteAsync(_handle, source, offset, cancellationToken);
    }

    /// <summary>
    /// fsync, on a pool thread: it can take the disk's whole write-back time, and the caller is a connection's completion
    /// or receive thread that every other command of that connection waits on. (Reads and writes need no such care:
    /// on Unix RandomAccess's asynchronous calls already run the system call on the pool.)
    /// </summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
        new(Task.Run(() => RandomAccess.FlushToDisk(_handle), cancellationToken));

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, length, Size);
        if (length == 0) return;
        if (!_punchUnsupported && OperatingSystem.IsLinux())
        {
            // fallocate may wait for the file system (journal, extent updates): off the caller's thread, as fsync.
            if (await Task.Run(() => LinuxFileControl.TryPunchHole(_handle, offset, length, _path), cancellationToken).ConfigureAwait(false)) return;
            _punchUnsupported = true;
        }
        // No hole punching here: make the range read back as zeros the slow way.
        while (length > 0)
        {
            int n = (int)Math.Min(length, BounceSize);
            if (DirectIo)
            {
                CheckDirectAlignment(offset, n);
                var zero = RentBounce();
                try
                {
                    zero.GetSpan()[..n].Clear();
                    await RandomAccess.WriteAsync(_handle, zero.Memory[..n], offset, cancellationToken).ConfigureAwait(false);
                }
                finally { _bounceBuffers.Enqueue(zero); }
            }
            else
            {
                await RandomAccess.WriteAsync(_handle, Zeros[..n], offset, cancellationToken).ConfigureAwait(false);
            }
            offset += n;
            length -= n;
        }
    }

    /// <summary>Holes of a sparse file are deallocated; on file systems that cannot report holes everything is mapped.</summary>
    public ValueTask<StoreExtent> GetExtentAsync(long offset, CancellationToken cancellationToken = default)
    {
        StoreRange.Check(offset, 0, Size);
        if (offset < Size && OperatingSystem.IsLinux()
            && LinuxFileControl.SeekExtent(_handle, offset, Size, _path) is { Length: > 0 } run)
            return new(new StoreExtent(offset, run.Length, run.Data));
        return new(new StoreExtent(offset, Size - offset, Mapped: true));
    }

    public string Describe() => $"file:{_path}:{ByteSize.Format(Size)}{(DirectIo ? " (direct I/O)" : "")}";

    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        while (_bounceBuffers.TryDequeue(out var buffer)) ((IDisposable)buffer).Dispose();
        return ValueTask.CompletedTask;
    }

    private async ValueTask ReadFullyAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            int n = await RandomAccess.ReadAsync(_handle, destination, offset, cancellationToken).ConfigureAwait(false);
            if (n <= 0)
            {
                // The file was truncated underneath us: what lies past its end reads as zeros.
                destination.Span.Clear();
                return;
            }
            destination = destination[n..];
            offset += n;
        }
    }

    private async ValueTask ReadBouncedAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var bounce = RentBounce();
        try
        {
            while (!destination.IsEmpty)
            {
                int n = Math.Min(destination.Length, BounceSize);
                await ReadFullyAsync(offset, bounce.Memory[..n], cancellationToken).ConfigureAwait(false);
                bounce.Memory[..n].CopyTo(destination);
                destination = destination[n..];
                offset += n;
            }
        }
        finally { _bounceBuffers.Enqueue(bounce); }
    }

    private async ValueTask WriteBouncedAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        var bounce = RentBounce();
        try
        {
            while (!source.IsEmpty)
            {
                int n = Math.Min(source.Length, BounceSize);
                source[..n].CopyTo(bounce.Memory);
                await RandomAccess.WriteAsync(_handle, bounce.Memory[..n], offset, cancellationToken).ConfigureAwait(false);
                source = source[n..];
                offset += n;
            }
        }
        finally { _bounceBuffers.Enqueue(bounce); }
    }

    private NativeAlignedBuffer RentBounce() =>
        _bounceBuffers.TryDequeue(out var buffer) ? buffer : new NativeAlignedBuffer(BounceSize, PageAlignment);

    private void CheckDirectAlignment(long offset, int length)
    {
        if ((offset | (long)length) % DirectIoAlignment != 0)
            throw new ArgumentException($"Direct I/O on '{_path}' needs offsets and lengths in multiples of {DirectIoAlignment} bytes (got {length} bytes at {offset}).");
    }
}
