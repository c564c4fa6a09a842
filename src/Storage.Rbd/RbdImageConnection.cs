using System.Globalization;
using Iser.Storage.Rbd.Native;

namespace Iser.Storage.Rbd;

/// <summary>
/// Opens the image a spec names: a cluster connection with the spec's ceph.conf, client id and keyring, the pool's
/// I/O context, then the image (a snapshot read-only). Blocking, up to the spec's timeout; every failure in words.
/// </summary>
internal static class RbdImageConnection
{
    public static SafeRbdImageHandle Open(RbdImageSpec spec) => Open(spec, keepPool: false).Image;

    /// <summary>
    /// Opens the image and, with <paramref name="keepPool"/>, hands back the pool's I/O context too (for objects beside
    /// the image, such as the shared reservation state); the caller disposes it.
    /// </summary>
    public static (SafeRbdImageHandle Image, SafeIoContextHandle? Pool) Open(RbdImageSpec spec, bool keepPool)
    {
        CephLibraries.ThrowIfUnsupported();
        string where = spec.ConfigFile is null ? "the default ceph.conf" : spec.ConfigFile;
        if (spec.ConfigFile is not null && !File.Exists(spec.ConfigFile))
            throw new CephException($"The Ceph configuration file '{spec.ConfigFile}' does not exist.", errno: 2);
        CephException.Check(LibRados.Create(out nint raw, spec.ClientId), $"Creating a Ceph client '{spec.ClientId ?? "admin"}'");
        var cluster = new SafeRadosHandle(raw);
        try
        {
            CephException.Check(LibRados.ConfReadFile(cluster, spec.ConfigFile), $"Reading {where}");
            if (spec.Keyring is not null) Set(cluster, "keyring", spec.Keyring);
            string seconds = ((int)Math.Ceiling(spec.Timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            // Without these a stopped cluster makes the target wait five minutes at start instead of saying so.
            Set(cluster, "client_mount_timeout", seconds);
            Set(cluster, "rados_mon_op_timeout", seconds);
            // A discard that covers part of an object zeroes it (LBPRZ: unmapped blocks read back as zeros).
            Set(cluster, "rbd_skip_partial_discard", "false");
            CephException.Check(LibRados.Connect(cluster), $"Connecting to the Ceph cluster of {where} within {seconds} s");
            CephException.Check(LibRados.IoContextCreate(cluster, spec.Pool, out nint rawIo), $"Opening the pool '{spec.Pool}'");
            var ioContext = new SafeIoContextHandle(rawIo, cluster);
            SafeIoContextHandle? kept = null;
            try
            {
                nint rawImage;
                int rc = spec.IsSnapshot
                    ? LibRbd.OpenReadOnly(ioContext, spec.Image, out rawImage, spec.Snapshot)
                    : LibRbd.Open(ioContext, spec.Image, out rawImage, null);
                CephException.Check(rc, $"Opening the image '{spec.Pool}/{spec.Image}'{(spec.IsSnapshot ? $" at snapshot '{spec.Snapshot}'" : "")}");
                var image = new SafeRbdImageHandle(rawImage, ioContext);
                if (keepPool) kept = ioContext;
                return (image, kept);
            }
            finally { if (kept is null) ioContext.Dispose(); } // the image holds its own reference
        }
        finally { cluster.Dispose(); } // likewise: the I/O context holds the cluster
    }

    private static void Set(SafeRadosHandle cluster, string option, string value) =>
        CephException.Check(LibRados.ConfSet(cluster, option, value), $"Setting the Ceph option {option}={value}");
}
