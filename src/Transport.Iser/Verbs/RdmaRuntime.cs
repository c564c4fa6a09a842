using System.Runtime.InteropServices;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// Whether RDMA can be used in this process: rdma-core's libraries load and at least one
/// device is present. Computed once, lazily; never throws. Everything else in the project
/// checks this before touching the verbs binding, so hosts without rdma-core or without an
/// RDMA device (libibverbs then answers ENOSYS) keep working.
/// </summary>
public static class RdmaRuntime
{
    private static readonly Lazy<(bool Supported, string? Reason, IReadOnlyList<string> Devices)> s_state =
        new(Probe, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when libibverbs.so.1 and librdmacm.so.1 load and report at least one RDMA device.</summary>
    public static bool IsSupported => s_state.Value.Supported;

    /// <summary>Why RDMA is unavailable, as a sentence; null when <see cref="IsSupported"/> is true.</summary>
    public static string? NotSupportedReason => s_state.Value.Reason;

    /// <summary>Names of the RDMA devices found (empty when not supported).</summary>
    public static IReadOnlyList<string> DeviceNames => s_state.Value.Devices;

    /// <summary>Throws PlatformNotSupportedException with <see cref="NotSupportedReason"/> when RDMA is unavailable.</summary>
    public static void EnsureSupported()
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException($"RDMA is not available: {NotSupportedReason}");
        }
    }

    private static (bool, string?, IReadOnlyList<string>) Probe()
    {
        try
        {
            if (NativeLibraries.TryLoad(NativeLibraries.IbverbsSoname) == IntPtr.Zero)
            {
                return (false, $"{NativeLibraries.IbverbsSoname} not found (install rdma-core's libibverbs1 package).", []);
            }

            if (NativeLibraries.TryLoad(NativeLibraries.RdmacmSoname) == IntPtr.Zero)
            {
                return (false, $"{NativeLibraries.RdmacmSoname} not found (install rdma-core's librdmacm1 package).", []);
            }

            List<string> names = DeviceList.ReadNames(out int errno);
            if (errno != 0)
            {
                string hint = errno == 38 ? " (ENOSYS: the kernel has no RDMA support loaded)" : "";
                return (false, $"ibv_get_device_list failed: {VerbsException.ErrnoText(errno)}{hint}; no RDMA devices can be used.", []);
            }

            if (names.Count == 0)
            {
                return (false, $"no RDMA devices ({NativeLibraries.IbverbsSoname} found, 0 devices).", []);
            }

            return (true, null, names);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or MarshalDirectiveException)
        {
            return (false, $"the rdma-core libraries could not be used: {ex.Message}", []);
        }
    }
}
