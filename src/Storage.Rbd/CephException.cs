using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd;

/// <summary>A Ceph call that failed, in words: what was being done, the error's text and a hint for the usual causes.</summary>
public sealed class CephException : IOException
{
    public CephException(string message, int errno) : base(message) => Errno = errno;

    /// <summary>The positive errno Ceph returned (0 when the failure is not Ceph's, e.g. a missing library).</summary>
    public int Errno { get; }

    /// <summary>Throws for a negative Ceph return code; <paramref name="what"/> says what was being done.</summary>
    internal static long Check(long rc, string what) => rc < 0 ? throw From((int)-rc, what) : rc;

    internal static CephException From(int errno, string what) =>
        new($"{what} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}){Hint(errno)}", errno);

    private static string Hint(int errno) => errno switch
    {
        2 => "; check the pool, image and snapshot names",
        1 or 13 => "; check the client id and keyring (and the client's capabilities)",
        110 => "; is the cluster running and its monitors reachable from here (ceph.conf's mon host)?",
        30 => "; the image or snapshot is read-only",
        108 => "; this client was blocklisted by the cluster",
        28 => "; the cluster is full",
        _ => "",
    };
}
