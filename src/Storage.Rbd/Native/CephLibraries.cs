using System.Runtime.InteropServices;

namespace Iser.Storage.Rbd.Native;

/// <summary>
/// Whether librados and librbd can be loaded here, probed once on first use (nothing is loaded until an rbd LUN is
/// configured), with the reason in words when they cannot.
/// </summary>
public static class CephLibraries
{
    internal const string Rados = "librados.so.2";
    internal const string Rbd = "librbd.so.1";

    private static readonly Lazy<string?> Reason = new(() => Probe(Rados, Rbd));

    /// <summary>True when both libraries load.</summary>
    public static bool IsSupported => Reason.Value is null;

    /// <summary>Why rbd LUNs cannot be served here, or null when they can.</summary>
    public static string? NotSupportedReason => Reason.Value;

    /// <summary>Throws the reason as a <see cref="CephException"/> when the libraries are missing.</summary>
    internal static void ThrowIfUnsupported()
    {
        if (Reason.Value is { } reason) throw new CephException(reason, errno: 0);
    }

    /// <summary>Null when both named libraries load, otherwise the sentence for the user.</summary>
    internal static string? Probe(string rados, string rbd)
    {
        if (!OperatingSystem.IsLinux()) return "Ceph RBD LUNs need Linux (librbd and librados).";
        foreach (var name in new[] { rados, rbd })
        {
            if (!NativeLibrary.TryLoad(name, typeof(CephLibraries).Assembly, null, out _))
                return $"Ceph RBD LUNs need {name}, which could not be loaded; install librados2 and librbd1 (Debian/Ubuntu: apt-get install librbd1).";
        }
        return null;
    }
}
