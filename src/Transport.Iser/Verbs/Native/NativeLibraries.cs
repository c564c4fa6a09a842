using System.Reflection;
using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>
/// Maps the short library names used by the [LibraryImport] declarations to the versioned
/// sonames. The unversioned libibverbs.so / librdmacm.so links exist only where the -dev
/// packages are installed, so binding to them would fail on ordinary hosts.
/// Resolution goes through NativeLibrary.TryLoad: a missing library never throws at type load;
/// the first call into it throws DllNotFoundException, and RdmaRuntime checks before that.
/// </summary>
internal static class NativeLibraries
{
    internal const string Ibverbs = "ibverbs";
    internal const string Rdmacm = "rdmacm";
    internal const string LibC = "libc";

    internal const string IbverbsSoname = "libibverbs.so.1";
    internal const string RdmacmSoname = "librdmacm.so.1";
    internal const string LibCSoname = "libc.so.6";

    private static int s_registered;

    /// <summary>Registers the resolver for this assembly once; safe to call from any static constructor.</summary>
    internal static void EnsureResolverRegistered()
    {
        if (Interlocked.Exchange(ref s_registered, 1) != 0)
        {
            return;
        }

        NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
    }

    /// <summary>Loads a library by soname without throwing; IntPtr.Zero when absent.</summary>
    internal static IntPtr TryLoad(string soname)
    {
        return NativeLibrary.TryLoad(soname, out IntPtr handle) ? handle : IntPtr.Zero;
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string? soname = libraryName switch
        {
            Ibverbs => IbverbsSoname,
            Rdmacm => RdmacmSoname,
            LibC => LibCSoname,
            _ => null,
        };

        // Zero lets the runtime fall back to its default probing (and to a DllNotFoundException
        // at the first call, never at type load).
        return soname is null ? IntPtr.Zero : TryLoad(soname);
    }
}
