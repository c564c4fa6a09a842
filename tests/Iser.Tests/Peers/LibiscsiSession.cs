using System.Runtime.InteropServices;

namespace Iser.Tests.Peers;

/// <summary>
/// A normal iSCSI session opened by libiscsi (libiscsi.so.7, the library behind libiscsi-bin) through its synchronous
/// API: an independent initiator for data-integrity checks, since libiscsi-bin ships no tool that writes or returns
/// block data. Only exported functions are used; the one struct field read is scsi_task.status (offset 0).
/// Not thread-safe: one caller at a time.
/// </summary>
public sealed unsafe partial class LibiscsiSession : IDisposable
{
    private const string Library = "libiscsi.so.7";
    private const int SessionNormal = 2;           // enum iscsi_session_type
    private const int HeaderDigestNone = 0;        // enum iscsi_header_digest
    private const int ScsiStatusGood = 0;

    private IntPtr _context;

    private LibiscsiSession(IntPtr context, int lun, int blockSize)
    {
        _context = context;
        Lun = lun;
        BlockSize = blockSize;
    }

    public int Lun { get; }

    /// <summary>Logical block length used for READ(16)/WRITE(16).</summary>
    public int BlockSize { get; }

    /// <summary>Null when libiscsi.so.7 can be loaded, else why not.</summary>
    public static string? MissingReason
    {
        get
        {
            if (NativeLibrary.TryLoad(Library, out IntPtr handle))
            {
                NativeLibrary.Free(handle);
                return null;
            }
            return "libiscsi.so.7 could not be loaded (Debian package 'libiscsi7', pulled in by 'libiscsi-bin').";
        }
    }

    /// <summary>
    /// Logs in to <paramref name="targetIqn"/> at <paramref name="portal"/> ("host:port") and checks <paramref name="lun"/>
    /// is ready. <paramref name="mutualChap"/> is the target's own credentials, which libiscsi then demands.
    /// </summary>
    public static LibiscsiSession Connect(string portal, string targetIqn, int lun, int blockSize,
        string initiatorIqn = LibiscsiTools.DefaultInitiatorIqn, ChapCredentials? chap = null,
        ChapCredentials? mutualChap = null, int commandTimeoutSeconds = 30)
    {
        // libiscsi's synchronous login gives up when poll() returns EINTR ("Poll failed"). This test process starts and
        // reaps child processes (the libiscsi tools, targets), and a SIGCHLD can land on the thread waiting in poll():
        // that is the harness, not the target, so such a login is tried again; any other failure stands.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return ConnectOnce(portal, targetIqn, lun, blockSize, initiatorIqn, chap, mutualChap, commandTimeoutSeconds);
            }
            catch (InvalidOperationException e) when (attempt < 3 && e.Message.EndsWith(": Poll failed", StringComparison.Ordinal)) { }
        }
    }

    private static LibiscsiSession ConnectOnce(string portal, string targetIqn, int lun, int blockSize, string initiatorIqn,
        ChapCredentials? chap, ChapCredentials? mutualChap, int commandTimeoutSeconds)
    {
        IntPtr context = CreateContext(initiatorIqn);
        if (context == IntPtr.Zero)
            throw new InvalidOperationException("libiscsi could not create a context.");
        var session = new LibiscsiSession(context, lun, blockSize);
        try
        {
            session.Check(SetTargetName(context, targetIqn), "set the target name");
            session.Check(SetSessionType(context, SessionNormal), "set the session type");
            session.Check(SetHeaderDigest(context, HeaderDigestNone), "set the header digest");
            session.Check(SetTimeout(context, commandTimeoutSeconds), "set the timeout");
            if (chap is not null)
                session.Check(SetInitiatorUsernamePassword(context, chap.User, chap.Secret), "set the CHAP credentials");
            if (mutualChap is not null)
                session.Check(SetTargetUsernamePassword(context, mutualChap.User, mutualChap.Secret), "set the target's CHAP credentials");
            session.Check(FullConnectSync(context, portal, lun), $"log in to {targetIqn} at {portal}");
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>WRITE(16) of <paramref name="data"/> (a whole number of blocks) at <paramref name="lba"/>; throws unless GOOD.</summary>
    public void Write(long lba, ReadOnlySpan<byte> data)
    {
        RequireWholeBlocks(data.Length);
        fixed (byte* buffer = data)
        {
            IntPtr task = Write16Sync(_context, Lun, (ulong)lba, buffer, (uint)data.Length, BlockSize, 0, 0, 0, 0, 0);
            Complete(task, $"WRITE(16) of {data.Length} bytes at LBA {lba}");
        }
    }

    /// <summary>READ(16) into <paramref name="destination"/> (a whole number of blocks) from <paramref name="lba"/>; throws unless GOOD.</summary>
    public void Read(long lba, Span<byte> destination)
    {
        RequireWholeBlocks(destination.Length);
        fixed (byte* buffer = destination)
        {
            var vector = new ScsiIovec { Base = buffer, Length = (nuint)destination.Length };
            IntPtr task = Read16IovSync(_context, Lun, (ulong)lba, (uint)destination.Length, BlockSize, 0, 0, 0, 0, 0, &vector, 1);
            Complete(task, $"READ(16) of {destination.Length} bytes at LBA {lba}");
        }
    }

    public void Dispose()
    {
        if (_context == IntPtr.Zero)
            return;
        LogoutSync(_context); // best effort: the target may be gone already
        DestroyContext(_context);
        _context = IntPtr.Zero;
    }

    private void RequireWholeBlocks(int length)
    {
        if (length == 0 || length % BlockSize != 0)
            throw new ArgumentException($"Transfers must be a positive multiple of the {BlockSize}-byte block.");
    }

    private void Complete(IntPtr task, string what)
    {
        if (task == IntPtr.Zero)
            throw new InvalidOperationException($"libiscsi {what} failed: {LastError()}");
        int status = *(int*)task; // struct scsi_task { int status; ... }
        FreeTask(task);
        if (status != ScsiStatusGood)
            throw new InvalidOperationException($"libiscsi {what} ended with SCSI status 0x{status:x}: {LastError()}");
    }

    private void Check(int result, string what)
    {
        if (result != 0)
            throw new InvalidOperationException($"libiscsi could not {what}: {LastError()}");
    }

    private string LastError() => Marshal.PtrToStringUTF8(GetError(_context)) ?? "(no error text)";

    [StructLayout(LayoutKind.Sequential)]
    private struct ScsiIovec
    {
        public byte* Base;
        public nuint Length;
    }

    [LibraryImport(Library, EntryPoint = "iscsi_create_context", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr CreateContext(string initiatorName);

    [LibraryImport(Library, EntryPoint = "iscsi_destroy_context")]
    private static partial int DestroyContext(IntPtr context);

    [LibraryImport(Library, EntryPoint = "iscsi_set_targetname", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetTargetName(IntPtr context, string targetName);

    [LibraryImport(Library, EntryPoint = "iscsi_set_session_type")]
    private static partial int SetSessionType(IntPtr context, int sessionType);

    [LibraryImport(Library, EntryPoint = "iscsi_set_header_digest")]
    private static partial int SetHeaderDigest(IntPtr context, int headerDigest);

    [LibraryImport(Library, EntryPoint = "iscsi_set_timeout")]
    private static partial int SetTimeout(IntPtr context, int seconds);

    [LibraryImport(Library, EntryPoint = "iscsi_set_initiator_username_pwd", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetInitiatorUsernamePassword(IntPtr context, string user, string password);

    [LibraryImport(Library, EntryPoint = "iscsi_set_target_username_pwd", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetTargetUsernamePassword(IntPtr context, string user, string password);

    [LibraryImport(Library, EntryPoint = "iscsi_full_connect_sync", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FullConnectSync(IntPtr context, string portal, int lun);

    [LibraryImport(Library, EntryPoint = "iscsi_logout_sync")]
    private static partial int LogoutSync(IntPtr context);

    [LibraryImport(Library, EntryPoint = "iscsi_get_error")]
    private static partial IntPtr GetError(IntPtr context);

    [LibraryImport(Library, EntryPoint = "iscsi_write16_sync")]
    private static partial IntPtr Write16Sync(IntPtr context, int lun, ulong lba, byte* data, uint length, int blockSize,
        int writeProtect, int dpo, int fua, int fuaNv, int groupNumber);

    [LibraryImport(Library, EntryPoint = "iscsi_read16_iov_sync")]
    private static partial IntPtr Read16IovSync(IntPtr context, int lun, ulong lba, uint length, int blockSize,
        int readProtect, int dpo, int fua, int fuaNv, int groupNumber, ScsiIovec* vectors, int vectorCount);

    [LibraryImport(Library, EntryPoint = "scsi_free_scsi_task")]
    private static partial void FreeTask(IntPtr task);
}
