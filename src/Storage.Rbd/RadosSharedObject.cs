using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Iser.Storage.Rbd.Native;

namespace Iser.Storage.Rbd;

/// <summary>The data of a <see cref="RadosSharedObject"/> and its version (0: never replaced).</summary>
internal readonly record struct RadosObjectState(ReadOnlyMemory<byte> Payload, ulong Version)
{
    public static RadosObjectState None => new(ReadOnlyMemory<byte>.Empty, 0);
}

/// <summary>
/// A small state every gateway serving an image shares: one RADOS object in the image's pool (the persistent
/// reservations in <c>iser.pr.IMAGE_ID</c>, the ALUA groups in <c>iser.alua.IMAGE_ID</c>). Its data is the version
/// (big-endian u64) followed by the payload; an xattr holds the version as text. A replacement is one atomic RADOS write
/// operation (the xattr must still be the version the state was read at, then the data and the xattr are replaced), so
/// of two gateways replacing at once one wins and the other is told to read again. After a replacement the object's
/// watchers (every gateway, this one included) are notified with the new data and an announcement, and the replacing
/// call waits for their acks, which each gives after its handlers ran.
/// </summary>
/// <remarks>
/// The notification carries the object's data length (big-endian u32), the data, then the announcement. The object does
/// not own the pool's I/O context: the store that opened it does.
/// </remarks>
internal sealed unsafe class RadosSharedObject : IDisposable
{
    private const int HeaderLength = 8;
    private const int MaxObjectBytes = 1 << 20; // a full reservation state (256 registrations with 223-byte names) is about 64 KiB
    private const int Ecanceled = 125, Eexist = 17, Enoent = 2, Etimedout = 110;
    private static readonly TimeSpan NotifyTimeout = TimeSpan.FromSeconds(10);

    private readonly SafeIoContextHandle _pool;
    private readonly string _oid;
    private readonly string _versionXattr;
    private readonly string _describe;
    private readonly string _what;
    private readonly GCHandle _self;
    private ulong _watch;
    private int _disposed;

    private RadosSharedObject(SafeIoContextHandle pool, string oid, string versionXattr, string what, string describe)
    {
        _pool = pool;
        _oid = oid;
        _versionXattr = versionXattr;
        _what = what;
        _describe = describe;
        _self = GCHandle.Alloc(this);
        InstanceId = LibRadosObjects.GetInstanceId(LibRadosObjects.GetCluster(pool));
    }

    /// <summary>
    /// Raised from librados' notification thread with each announced state and announcement (empty when this client
    /// made the replacement, or after a re-read); the ack waits for the handlers.
    /// </summary>
    public event Action<RadosObjectState, ReadOnlyMemory<byte>>? Changed;

    public string ObjectName => _oid;

    /// <summary>This client's global id: what other gateways see as notifier and watcher id.</summary>
    public ulong InstanceId { get; }

    /// <summary>Creates the object unless it exists, and watches it. Blocking; failures are <see cref="CephException"/>s in words.</summary>
    /// <param name="what">What the object holds, for messages ("reservation", "ALUA").</param>
    public static RadosSharedObject Open(SafeIoContextHandle pool, string oid, string versionXattr, string what, string describe)
    {
        var shared = new RadosSharedObject(pool, oid, versionXattr, what, describe);
        try
        {
            shared.EnsureExists();
            shared.Watch();
            return shared;
        }
        catch
        {
            shared._self.Free();
            throw;
        }
    }

    /// <summary>The stored state and its version (an empty payload at version 0 for a fresh object).</summary>
    public RadosObjectState Read()
    {
        var buffer = new byte[MaxObjectBytes];
        int rc;
        fixed (byte* b = buffer) rc = LibRadosObjects.Read(_pool, _oid, b, (nuint)buffer.Length, 0);
        if (rc == -Enoent) return RadosObjectState.None; // removed by hand: as if nothing had been stored
        CephException.Check(rc, $"Reading the {_what} object {_oid} of {_describe}");
        return Decode(buffer.AsSpan(0, rc));
    }

    /// <summary>The atomic compare-and-replace, then the notification; null when the version moved on meanwhile.</summary>
    public ulong? TryReplace(ReadOnlySpan<byte> payload, ulong expected, ReadOnlySpan<byte> announcement)
    {
        ulong next = expected + 1;
        var data = new byte[HeaderLength + payload.Length];
        BinaryPrimitives.WriteUInt64BigEndian(data, next);
        payload.CopyTo(data.AsSpan(HeaderLength));
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
                LibRadosObjects.WriteOpCompareXattr(op, _versionXattr, LibRadosObjects.CompareEqual, w, (nuint)was.Length);
                LibRadosObjects.WriteOpWriteFull(op, d, (nuint)data.Length);
                LibRadosObjects.WriteOpSetXattr(op, _versionXattr, n, (nuint)now.Length);
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
        CephException.Check(rc, $"Replacing the {_what} object {_oid} of {_describe} (version {expected} to {next})");
        Announce(data, announcement, next);
        return next;
    }

    /// <summary>
    /// The global ids of the clients that watch the object and answer: an empty notification, whose acks (this
    /// client's included) are the gateways there. librados 16 has no rados_list_watchers in its C API, and an ack says
    /// more anyway: a gateway hung or cut off times out here, while its watch would linger on the OSD for 30 s.
    /// </summary>
    public HashSet<long> Ping(TimeSpan timeout)
    {
        nint reply;
        nuint replyLength;
        int rc = LibRadosObjects.Notify(_pool, _oid, null, 0, (ulong)timeout.TotalMilliseconds, out reply, out replyLength);
        try
        {
            if (rc < 0 && rc != -Etimedout) CephException.Check(rc, $"Notifying the watchers of {_oid} of {_describe}");
            return reply == 0 ? [] : AckedIds(new ReadOnlySpan<byte>((void*)reply, checked((int)replyLength)));
        }
        finally { if (reply != 0) LibRadosObjects.BufferFree(reply); }
    }

    /// <summary>
    /// The notifier ids of a notify reply's acks: Ceph's little-endian encoding of a map from (global id, cookie) to the
    /// ack's payload (count u32; per ack: id u64, cookie u64, payload length u32, payload), then the timed-out watchers.
    /// </summary>
    private static HashSet<long> AckedIds(ReadOnlySpan<byte> reply)
    {
        var ids = new HashSet<long>();
        if (reply.Length < 4) return ids;
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(reply);
        int at = 4;
        for (uint i = 0; i < count && at + 20 <= reply.Length; i++)
        {
            ids.Add((long)BinaryPrimitives.ReadUInt64LittleEndian(reply[at..]));
            at += 20 + (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(reply[(at + 16)..]), int.MaxValue / 2);
        }
        return ids;
    }

    /// <summary>
    /// Tells every watcher and waits for their acks. The state is stored whatever happens here; a gateway that does
    /// not ack in time (gone without unwatching: the OSD forgets it after 30 s) is reported, not fatal.
    /// </summary>
    private void Announce(byte[] data, ReadOnlySpan<byte> announcement, ulong version)
    {
        var message = new byte[4 + data.Length + announcement.Length];
        BinaryPrimitives.WriteUInt32BigEndian(message, (uint)data.Length);
        data.CopyTo(message, 4);
        announcement.CopyTo(message.AsSpan(4 + data.Length));
        int rc;
        nint reply;
        fixed (byte* m = message)
            rc = LibRadosObjects.Notify(_pool, _oid, m, message.Length, (ulong)NotifyTimeout.TotalMilliseconds, out reply, out _);
        if (reply != 0) LibRadosObjects.BufferFree(reply);
        if (rc < 0)
            Console.Error.WriteLine(rc == -Etimedout
                ? $"warning: {_what} version {version} of {_describe} stored, but a gateway watching {_oid} did not acknowledge it within {NotifyTimeout.TotalSeconds} s; it may act on the previous state until it reads the object again."
                : $"warning: {_what} version {version} of {_describe} stored, but notifying the gateways watching {_oid} failed: {Marshal.GetPInvokeErrorMessage(-rc)} (errno {-rc}).");
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
            LibRadosObjects.WriteOpSetXattr(op, _versionXattr, &zero, 1);
            rc = LibRadosObjects.WriteOpOperate(op, _pool, _oid, 0, 0);
        }
        finally { LibRadosObjects.ReleaseWriteOp(op); }
        if (rc != -Eexist) CephException.Check(rc, $"Creating the {_what} object {_oid} of {_describe}");
    }

    private void Watch()
    {
        int rc = LibRadosObjects.Watch(_pool, _oid, out ulong cookie, &OnNotify, &OnWatchError, GCHandle.ToIntPtr(_self));
        CephException.Check(rc, $"Watching the {_what} object {_oid} of {_describe}");
        Volatile.Write(ref _watch, cookie);
    }

    private static RadosObjectState Decode(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return RadosObjectState.None; // created, never replaced
        if (data.Length < HeaderLength) throw new InvalidDataException($"The object holds {data.Length} bytes, fewer than its {HeaderLength}-byte version.");
        return new RadosObjectState(data[HeaderLength..].ToArray(), BinaryPrimitives.ReadUInt64BigEndian(data));
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnNotify(nint argument, ulong notifyId, ulong cookie, ulong notifierId, byte* data, nuint length)
    {
        if (GCHandle.FromIntPtr(argument).Target is not RadosSharedObject self) return;
        try
        {
            // Applied before the ack: the replacing gateway's command completes only once this gateway acts on it.
            var message = new ReadOnlySpan<byte>(data, checked((int)length));
            if (message.IsEmpty) return; // a ping (see Ping): the ack is the answer
            if (message.Length < 4) throw new InvalidDataException($"A notification of {message.Length} bytes.");
            int dataLength = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(message), int.MaxValue);
            if (dataLength > message.Length - 4) throw new InvalidDataException($"A notification of {message.Length} bytes announces {dataLength} bytes of data.");
            var state = Decode(message.Slice(4, dataLength));
            // Our own announcement: what it asks for was done here already, by the command that made it.
            var announcement = notifierId == self.InstanceId ? ReadOnlyMemory<byte>.Empty : message[(4 + dataLength)..].ToArray();
            self.Changed?.Invoke(state, announcement);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"warning: a notification on {self._oid} of {self._describe} could not be applied: {e.Message}");
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
        // read the object, off librados' thread, so this gateway acts on the stored state, not what it last heard.
        if (GCHandle.FromIntPtr(argument).Target is RadosSharedObject self)
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
                Changed?.Invoke(Read(), ReadOnlyMemory<byte>.Empty);
                Console.Error.WriteLine($"warning: the watch on {_oid} of {_describe} broke and was set up again; the stored {_what} state was read again.");
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
    }
}
