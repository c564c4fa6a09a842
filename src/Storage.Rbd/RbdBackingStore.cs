using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Stores;
using Iser.Storage.Rbd.Native;

namespace Iser.Storage.Rbd;

/// <summary>
/// A LUN on a Ceph RBD image through librbd: reads, writes, discards, WRITE SAME, COMPARE AND WRITE and flushes are
/// rbd_aio_* requests on the caller's own buffers (pinned for the request, no copy), completed through callbacks
/// into the awaiting task. A resize by another client is noticed (rbd_update_watch) and a growth raised as
/// <see cref="MediumGrown"/>; a snapshot is read-only. Persistent reservations (<c>iser.pr.IMAGE_ID</c>) and the ALUA
/// target port groups (<c>iser.alua.IMAGE_ID</c>, <see cref="RadosAccessStates"/>) are kept beside the image
/// (<see cref="RadosSharedObject"/>) for every gateway serving it, unless the spec says <c>pr=local</c>, <c>alua=local</c>.
/// </summary>
public sealed class RbdBackingStore : IBackingStore, IWriteSameStore, ICompareAndWriteStore, IExternallyGrowingStore, ISharedReservationStore,
    ISharedAccessStateStore
{
    private const int Eilseq = 84; // librbd's answer when compare-and-write finds different data

    private readonly SafeRbdImageHandle _image;
    private readonly RbdImageSpec _spec;
    private readonly RbdOperationPool _operations = new();
    private readonly ulong _stripeUnit;
    private readonly GCHandle _watchTarget;
    private readonly ulong _watch;
    private Native.SafeIoContextHandle? _pool;      // for the objects beside the image; null when there are none
    private RadosSharedObject? _reservations;      // null: reservations stay with each target (pr=local, a snapshot)
    private RadosAccessStates? _accessStates;      // null: each target reports its own groups only (alua=local, a snapshot)
    private long _size;
    private int _disposed;

    private RbdBackingStore(SafeRbdImageHandle image, RbdImageSpec spec)
    {
        _image = image;
        _spec = spec;
        CephException.Check(LibRbd.GetSize(image, out ulong size), $"Reading the size of {spec}");
        CephException.Check(LibRbd.GetStripeUnit(image, out _stripeUnit), $"Reading the stripe unit of {spec}");
        _size = (long)size;
        if (!spec.IsSnapshot)
        {
            // The argument is a handle to this store, freed after the unwatch, so a late notification finds it.
            _watchTarget = GCHandle.Alloc(this);
            int rc;
            unsafe { rc = LibRbd.UpdateWatch(image, out _watch, &OnImageUpdated, GCHandle.ToIntPtr(_watchTarget)); }
            if (rc < 0)
            {
                _watchTarget.Free();
                throw CephException.From(-rc, $"Watching {spec} for resizes");
            }
        }
    }

    /// <summary>Connects and opens the image (blocking, up to the spec's timeout); failures are <see cref="CephException"/>s in words.</summary>
    public static RbdBackingStore Open(RbdImageSpec spec)
    {
        bool shared = spec.SharesReservations || spec.SharesAccessStates;
        var (image, pool) = RbdImageConnection.Open(spec, keepPool: shared);
        RbdBackingStore? store = null;
        try
        {
            store = new RbdBackingStore(image, spec);
            if (pool is not null)
            {
                store._pool = pool;
                pool = null; // the store owns it now
                string id = ImageIdOf(image, spec);
                if (spec.SharesReservations)
                {
                    store._reservations = RadosSharedObject.Open(store._pool, "iser.pr." + id, "iser.pr.version", "reservation", spec.ToString());
                    store._reservations.Changed += store.OnReservationsChanged;
                }
                if (spec.SharesAccessStates)
                {
                    store._accessStates = RadosAccessStates.Open(store._pool, "iser.alua." + id, spec.ToString());
                    store._accessStates.Changed += store.OnAccessStatesChanged;
                }
            }
            return store;
        }
        catch
        {
            if (store is not null) store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            else image.Dispose();
            pool?.Dispose();
            throw;
        }
    }

    /// <summary>The image's id (rbd_get_id), the same for every client of the image and new for a recreated one.</summary>
    private static unsafe string ImageIdOf(SafeRbdImageHandle image, RbdImageSpec spec)
    {
        var id = new byte[128];
        int rc;
        fixed (byte* p = id) rc = LibRbd.GetId(image, p, (nuint)id.Length);
        CephException.Check(rc, $"Reading the id of {spec}");
        int end = Array.IndexOf(id, (byte)0);
        return System.Text.Encoding.ASCII.GetString(id, 0, end < 0 ? id.Length : end);
    }

    public RbdImageSpec Spec => _spec;
    public long Size => Volatile.Read(ref _size);
    public bool SupportsDiscard => !_spec.IsSnapshot;
    public bool IsReadOnly => _spec.IsSnapshot;
    public bool CanGrow => !_spec.IsSnapshot;

    public event Action<long>? MediumGrown;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty) return;
        cancellationToken.ThrowIfCancellationRequested();
        var done = await RbdRequests.Read(_image, _operations, offset, destination).ConfigureAwait(false);
        long read = CephException.Check(done.ReturnValue, $"Reading {destination.Length} bytes at {offset} of {_spec}");
        // Past the image's end (shrunk by someone else) librbd reads short: that part reads as zeros.
        if (read < destination.Length) destination.Span[(int)read..].Clear();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        CheckWritable();
        CheckRange(offset, source.Length);
        if (source.IsEmpty) return;
        cancellationToken.ThrowIfCancellationRequested();
        var done = await RbdRequests.Write(_image, _operations, offset, source).ConfigureAwait(false);
        CephException.Check(done.ReturnValue, $"Writing {source.Length} bytes at {offset} of {_spec}");
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_spec.IsSnapshot) return;
        var done = await RbdRequests.Flush(_image, _operations).ConfigureAwait(false);
        CephException.Check(done.ReturnValue, $"Flushing {_spec}");
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckWritable();
        CheckRange(offset, length);
        if (length == 0) return;
        var done = await RbdRequests.Discard(_image, _operations, offset, length).ConfigureAwait(false);
        CephException.Check(done.ReturnValue, $"Discarding {length} bytes at {offset} of {_spec}");
    }

    /// <summary>rbd_aio_writesame: the pattern goes to the cluster once; zeros when it is empty.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteSameAsync(long offset, long length, ReadOnlyMemory<byte> pattern, CancellationToken cancellationToken = default)
    {
        CheckWritable();
        CheckRange(offset, length);
        if (pattern.IsEmpty) pattern = ZeroBlock;
        if (length == 0) return;
        if (length % pattern.Length != 0)
            throw new ArgumentException($"WRITE SAME over {length} bytes is not a whole number of {pattern.Length}-byte patterns.");
        var done = await RbdRequests.WriteSame(_image, _operations, offset, length, pattern).ConfigureAwait(false);
        CephException.Check(done.ReturnValue, $"WRITE SAME of {length} bytes at {offset} of {_spec}");
    }

    private static readonly ReadOnlyMemory<byte> ZeroBlock = new byte[512];

    /// <summary>
    /// librbd 16 compares and writes within one 512-byte sector of one stripe unit only (EINVAL otherwise): a longer
    /// range takes the logical unit's own read-compare-write, atomic against this target's commands but not other clients'.
    /// </summary>
    public bool CanCompareAndWrite(long offset, int length) =>
        !_spec.IsSnapshot && length > 0 && offset % Sector + length <= Sector
        && (_stripeUnit == 0 || (ulong)offset % _stripeUnit + (ulong)length <= _stripeUnit);

    private const int Sector = 512;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<long> CompareAndWriteAsync(long offset, ReadOnlyMemory<byte> compare, ReadOnlyMemory<byte> write, CancellationToken cancellationToken = default)
    {
        CheckWritable();
        if (compare.Length != write.Length) throw new ArgumentException($"COMPARE AND WRITE needs as many bytes to compare ({compare.Length}) as to write ({write.Length}).");
        CheckRange(offset, write.Length);
        var done = await RbdRequests.CompareAndWrite(_image, _operations, offset, compare, write).ConfigureAwait(false);
        if (done.ReturnValue == -Eilseq)
        {
            // librbd 16 reports the offset within the compared bytes (later releases may report it in the image; the
            // two cannot be confused, as the range lies in one sector and so starts at 0 or past the sector's length).
            long at = (long)done.MismatchOffset;
            if (at >= write.Length) at -= offset;
            return at >= 0 && at < write.Length ? at : 0;
        }
        CephException.Check(done.ReturnValue, $"COMPARE AND WRITE of {write.Length} bytes at {offset} of {_spec}");
        return -1;
    }

    /// <summary>Grows the image (rbd_resize, off the caller's thread) unless it is already that large (another client resized it).</summary>
    public async ValueTask GrowAsync(long newSize, CancellationToken cancellationToken = default)
    {
        CheckWritable();
        long size = Size;
        if (newSize < size) throw new ArgumentOutOfRangeException(nameof(newSize), $"A store never shrinks: {newSize} bytes is less than its {size}.");
        await Task.Run(() =>
        {
            CephException.Check(LibRbd.GetSize(_image, out ulong current), $"Reading the size of {_spec}");
            if ((long)current < newSize) CephException.Check(LibRbd.Resize(_image, (ulong)newSize), $"Resizing {_spec} to {newSize} bytes");
        }, cancellationToken).ConfigureAwait(false);
        long seen;
        while ((seen = Volatile.Read(ref _size)) < newSize && Interlocked.CompareExchange(ref _size, newSize, seen) != seen) { }
    }

    public bool SharesReservations => _reservations is not null;

    /// <summary>The RADOS object holding the shared reservation state (for diagnostics and tests), or null.</summary>
    public string? ReservationObjectName => _reservations?.ObjectName;

    public event Action<SharedReservationState>? ReservationsChanged;

    public ValueTask<SharedReservationState> ReadReservationsAsync(CancellationToken cancellationToken = default) =>
        new(Task.Run(() => Reservations.Read() is var r ? new SharedReservationState(r.Payload, r.Version) : default, cancellationToken)); // a blocking RADOS read: off the caller's thread

    public ValueTask<ulong?> TryReplaceReservationsAsync(ReadOnlyMemory<byte> image, ulong expectedVersion, ReadOnlyMemory<byte> announcement,
        CancellationToken cancellationToken = default) =>
        new(Task.Run(() => Reservations.TryReplace(image.Span, expectedVersion, announcement.Span), cancellationToken));

    private RadosSharedObject Reservations =>
        _reservations ?? throw new InvalidOperationException($"{_spec} keeps persistent reservations per target (pr=local).");

    private void OnReservationsChanged(RadosObjectState state, ReadOnlyMemory<byte> announcement) =>
        ReservationsChanged?.Invoke(new SharedReservationState(state.Payload, state.Version) { Announcement = announcement });

    public bool SharesAccessStates => _accessStates is not null;

    public bool TakesOverAccess => _spec.TakesOverAccess;

    /// <summary>The RADOS object holding the gateways' target port groups (for diagnostics and tests), or null.</summary>
    public string? AccessStateObjectName => _accessStates?.ObjectName;

    public IReadOnlyList<SharedTargetPortGroup> OtherTargetsAccessStates => _accessStates?.Others ?? [];

    public event Action? OtherTargetsChanged;

    public ValueTask PublishAccessStatesAsync(IReadOnlyList<TargetPortGroup> groups, CancellationToken cancellationToken = default)
    {
        var states = _accessStates ?? throw new InvalidOperationException($"{_spec} keeps ALUA states per target (alua=local).");
        return new(Task.Run(() => states.Publish(groups), cancellationToken));
    }

    private void OnAccessStatesChanged() => OtherTargetsChanged?.Invoke();

    public string Describe() => $"{_spec}:{ByteSize.Format(Size)}{(_spec.IsSnapshot ? " (snapshot, read-only)" : "")}";

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
        // Closing waits for the image's requests and its watch callbacks; off the caller's thread.
        return new(Task.Run(() =>
        {
            _reservations?.Dispose();
            _accessStates?.Dispose();
            _pool?.Dispose();
            if (_watchTarget.IsAllocated)
            {
                LibRbd.UpdateUnwatch(_image, _watch);
                _watchTarget.Free();
            }
            _image.Dispose();
            _operations.Dispose();
        }));
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnImageUpdated(nint argument)
    {
        // librbd's notification thread: reading the size refreshes the image header (a round trip), so not here.
        if (GCHandle.FromIntPtr(argument).Target is RbdBackingStore store)
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.CheckSize(), store, preferLocal: false);
    }

    private void CheckSize()
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        if (LibRbd.GetSize(_image, out ulong current) < 0) return; // a failed refresh: the next notification tries again
        if ((long)current > Size) MediumGrown?.Invoke((long)current);
        // A shrink is not followed: a LUN never shrinks under its initiators; librbd answers requests past the end short.
    }

    private void CheckRange(long offset, long length)
    {
        long size = Size;
        if (offset < 0 || length < 0 || offset > size || length > size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"The range of {length} bytes at offset {offset} lies outside {_spec} ({size} bytes).");
    }

    private void CheckWritable()
    {
        if (_spec.IsSnapshot) throw new CephException($"{_spec} is a snapshot: it takes no writes.", errno: 30);
    }
}
