using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Iser.Core.Scsi.Target.Stores;
using Iser.Storage.Rbd.Native;

namespace Iser.Storage.Rbd;

/// <summary>
/// The persistent reservation state of an image, shared by every gateway serving it: one RADOS object in the image's
/// pool, <c>iser.pr.IMAGE_ID</c> (the image's id, not its name, so an image removed and created again under the same
/// name never inherits old registrations). Its data is the version (big-endian u64) followed by the state's image; the
/// xattr <c>iser.pr.version</c> holds the version as text. A replacement is one atomic RADOS write operation (the xattr
/// must still be the version the state was read at, then the data and the xattr are replaced), so of two gateways
/// replacing at once one wins and the other is told to read again. After a replacement the object's watchers (every
/// gateway, this one included) are notified with the new data, and the replacing call waits for their acks, which each
/// gives after installing the new state.
/// </summary>
internal sealed unsafe class RadosReservationObject : IDisposable
{
    private const string VersionXattr = "iser.pr.version";
    private const int HeaderLength = 8;
    private const int MaxObjectBytes = 1 << 20; // a full state (256 registrations with 223-byte names) is about 64 KiB
    private const int Ecanceled = 125, Eexist = 17, Enoent = 2, Etimedout = 110;
    private static readonly TimeSpan NotifyTimeout = TimeSpan.FromSeconds(10);

    private readonly SafeIoContextHandle _pool;
    private readonly string _oid;
    private readonly string _describe;
    private readonly GCHandle _self;
    private ulong _watch;
    private int _disposed;

    private RadosReservationObject(SafeIoContextHandle pool, string oid, string describe)
    {
        _pool = pool;
        _oid = oid;
        _describe = describe;
        _self = GCHandle.Alloc(this);
    }

    /// <summary>Raised from librados' notification thread with each announced state; the ack waits for the handlers.</summary>
    public event Action<SharedReservationState>? Changed;

    public string ObjectName => _oid;

    /// <summary>Creates the object unless it exists, and watches it. Blocking; failures are <see cref="CephException"/>s in words.</summary>
    public static RadosReservationObject Open(SafeIoContextHandle pool, string oid, string describe)
    {
        var reservation = new RadosReservationObject(pool, oid, describe);
        try
        {
            reservation.EnsureExists();
            reservation.Watch();
            return reservation;
        }
        catch
        {
            reservation._self.Free();
            throw;
        }
    }

    /// <summary>The stored state and its version (an empty image at version 0 for a fresh object).</summary>
    public SharedReservationState Read()
    {
        var buffer = new byte[MaxObjectBytes];
        int rc;
        fixed (byte* b = buffer) rc = LibRadosObjects.Read(_pool, _oid, b, (nuint)buffer.Length, 0);
        if (rc == -Enoent) return SharedReservationState.None; // removed by hand: as if nobody had registered
        CephException.Check(rc, $"Reading the reservation object {_oid} of {_describe}");
        return Decode(buffer.AsSpan(0, rc));
    }

    /// <summary>The atomic compare-and-replace, then the notification; null when the version moved on meanwhile.</summary>
    public ulong? TryReplace(ReadOnlySpan<byte> image, ulong expected)
    {
        ulong next = expected + 1;
        var data = new byte[HeaderLength + image.Length];
        BinaryPrimitives.WriteUInt64BigEndian(data, next);
        image.CopyTo(data.AsSpan(HeaderLength));
        byte[] was = Encoding.ASCII.GetBytes(expected.ToString(CultureInfo.InvariantCulture));
        byte[] now = Encoding.ASCII.GetBytes(next.ToString(CultureInfo.InvariantCulture));
        nint op = LibRadosObjects.CreateWriteOp();
        if (op == 0) throw new CephException($"Creating a RADOS write operation for {_oid} failed (out of memory).", errno: 12);
        int rc;
        try
        {
            fixed (byte* w = was)
            fixed (byte* n = now)
            fixed (byte* d = data)
            {
                LibRadosObjects.WriteOpCompareXattr(op, VersionXattr, LibRadosObjects.CompareEqual, w, (nuint)was.Length);
                LibRadosObjects.WriteOpWriteFull(op, d, (nuint)data.Length);
                LibRadosObjects.WriteOpSetXattr(op, VersionXattr, n, (nuint)now.Length);
                rc = LibRadosObjects.WriteOpOperate(op, _pool, _oid, 0, 0);
            }
        }
        finally { LibRadosObjects.ReleaseWriteOp(op); }
        if (rc == -Ecanceled) return null; // another gateway replaced it first
        if (rc == -Enoent)
        {
            EnsureExists(); // removed by hand: start again from an empty state
            return null;
        }
        CephException.Check(rc, $"Replacing the reservation object {_oid} of {_describe} (version {expected} to {next})");
        Announce(data, next);
        return next;
    }

    /// <summary>
    /// Tells every watcher and waits for their acks. The state is stored whatever happens here; a gateway that does
    /// not ack in time (gone without unwatching: the OSD forgets it after 30 s) is reported, not fatal.
    /// </summary>
    private void Announce(byte[] data, ulong version)
    {
        int rc;
        nint reply;
        fixed (byte* d = data)
            rc = LibRadosObjects.Notify(_pool, _oid, d, data.Length, (ulong)NotifyTimeout.TotalMilliseconds, out reply, out _);
        if (reply != 0) LibRadosObjects.BufferFree(reply);
        if (rc < 0)
            Console.Error.WriteLine(rc == -Etimedout
                ? $"warning: reservation version {version} of {_describe} stored, but a gateway watching {_oid} did not acknowledge it within {NotifyTimeout.TotalSeconds} s; it may enforce the previous state until it reads the object again."
                : $"warning: reservation version {version} of {_describe} stored, but notifying the gateways watching {_oid} failed: {Marshal.GetPInvokeErrorMessage(-rc)} (errno {-rc}).");
    }

    private void EnsureExists()
    {
        nint op = LibRadosObjects.CreateWriteOp();
        if (op == 0) throw new CephException($"Creating a RADOS write operation for {_oid} failed (out of memory).", errno: 12);
        int rc;
        try
        {
            byte zero = (byte)'0';
            LibRadosObjects.WriteOpCreate(op, LibRadosObjects.CreateExclusive, null);
            LibRadosObjects.WriteOpSetXattr(op, VersionXattr, &zero, 1);
            rc = LibRadosObjects.WriteOpOperate(op, _pool, _oid, 0, 0);
        }
        finally { LibRadosObjects.ReleaseWriteOp(op); }
        if (rc != -Eexist) CephException.Check(rc, $"Creating the reservation object {_oid} of {_describe}");
    }

    private void Watch()
    {
        int rc = LibRadosObjects.Watch(_pool, _oid, out ulong cookie, &OnNotify, &OnWatchError, GCHandle.ToIntPtr(_self));
        CephException.Check(rc, $"Watching the reservation object {_oid} of {_describe}");
        Volatile.Write(ref _watch, cookie);
    }

    private static SharedReservationState Decode(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return SharedReservationState.None; // created, never replaced
        if (data.Length < HeaderLength) throw new InvalidDataException($"The reservation object holds {data.Length} bytes, fewer than its {HeaderLength}-byte version.");
        return new SharedReservationState(data[HeaderLength..].ToArray(), BinaryPrimitives.ReadUInt64BigEndian(data));
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnNotify(nint argument, ulong notifyId, ulong cookie, ulong notifierId, byte* data, nuint length)
    {
        if (GCHandle.FromIntPtr(argument).Target is not RadosReservationObject self) return;
        try
        {
            // Installed before the ack: the replacing gateway's command completes only once this gateway enforces it.
            var state = Decode(new ReadOnlySpan<byte>(data, checked((int)length)));
            self.Changed?.Invoke(state);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"warning: a reservation notification on {self._oid} of {self._describe} could not be applied: {e.Message}");
        }
        finally
        {
            if (Volatile.Read(ref self._disposed) == 0) LibRadosObjects.NotifyAck(self._pool, self._oid, notifyId, cookie, null, 0);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnWatchError(nint argument, ulong cookie, int error)
    {
        // The watch broke (the OSD lost this client for a while): notifications may have been missed. Watch again and
        // read the object, off librados' thread, so this gateway enforces the stored state, not what it last heard.
        if (GCHandle.FromIntPtr(argument).Target is RadosReservationObject self)
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Rewatch(), self, preferLocal: false);
    }

    private void Rewatch()
    {
        for (int attempt = 1; Volatile.Read(ref _disposed) == 0; attempt++)
        {
            try
            {
                LibRadosObjects.Unwatch(_pool, Volatile.Read(ref _watch));
                Watch();
                Changed?.Invoke(Read());
                Console.Error.WriteLine($"warning: the watch on {_oid} of {_describe} broke and was set up again; the stored reservation state was read again.");
                return;
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                Console.Error.WriteLine($"warning: watching {_oid} of {_describe} again failed (attempt {attempt}): {e.Message}");
                Thread.Sleep(TimeSpan.FromSeconds(Math.Min(attempt, 10)));
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        LibRadosObjects.Unwatch(_pool, Volatile.Read(ref _watch));
        // No callback may still be running (or queued) when the handle to this object goes.
        LibRadosObjects.WatchFlush(LibRadosObjects.GetCluster(_pool));
        _self.Free();
        _pool.Dispose();
    }
}
