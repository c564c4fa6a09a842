using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>
/// Behaviour where rdma-core or a device is missing (this build host: no RDMA in the kernel,
/// libibverbs answers ENOSYS). The expectation is derived from the machine, so the same tests
/// also hold in the lab guest, where a device exists.
/// </summary>
public sealed class RdmaRuntimeTests
{
    private static bool LibraryPresent(string soname) => NativeLibrary.TryLoad(soname, out _);

    private static bool KernelHasRdmaDevices() =>
        Directory.Exists("/sys/class/infiniband") && Directory.EnumerateFileSystemEntries("/sys/class/infiniband").Any();

    [Fact]
    public void SupportFollowsLibrariesAndDevicesWithAReasonWhenMissing()
    {
        bool expected = LibraryPresent("libibverbs.so.1") && LibraryPresent("librdmacm.so.1") && KernelHasRdmaDevices();

        Assert.Equal(expected, RdmaRuntime.IsSupported);
        if (expected)
        {
            Assert.Null(RdmaRuntime.NotSupportedReason);
            Assert.NotEmpty(RdmaRuntime.DeviceNames);
        }
        else
        {
            string reason = Assert.IsType<string>(RdmaRuntime.NotSupportedReason);
            Assert.Matches("libibverbs.so.1 not found|librdmacm.so.1 not found|no RDMA devices|ibv_get_device_list failed", reason);
            Assert.Empty(RdmaRuntime.DeviceNames);
        }
    }

    [NoRdmaFact]
    public void WithoutDevicesTheReasonNamesTheCause()
    {
        string reason = RdmaRuntime.NotSupportedReason!;
        if (!LibraryPresent("libibverbs.so.1"))
        {
            Assert.Equal("libibverbs.so.1 not found (install rdma-core's libibverbs1 package).", reason);
        }
        else if (!KernelHasRdmaDevices() && LibraryPresent("librdmacm.so.1"))
        {
            // libibverbs either reports ENOSYS (no RDMA in the kernel) or an empty list.
            Assert.True(
                reason == "no RDMA devices (libibverbs.so.1 found, 0 devices)."
                || reason.StartsWith("ibv_get_device_list failed: Function not implemented (ENOSYS", StringComparison.Ordinal),
                reason);
        }
    }

    [NoRdmaFact]
    public void EntryPointsRefuseWithTheReasonInsteadOfCrashing()
    {
        PlatformNotSupportedException open = Assert.Throws<PlatformNotSupportedException>(() => RdmaDevice.Open());
        Assert.Equal($"RDMA is not available: {RdmaRuntime.NotSupportedReason}", open.Message);
        Assert.Throws<PlatformNotSupportedException>(() => new RdmaCmEventChannel());
        Assert.Throws<PlatformNotSupportedException>(() => RdmaListener.Start(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)));
        Assert.Throws<PlatformNotSupportedException>(() => RdmaConnection.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 3260), []));
    }

    [Fact]
    public void EveryBindingTypeLoadsAndInitialisesWithoutTouchingTheLibraries()
    {
        Type[] types = typeof(RdmaRuntime).Assembly.GetTypes()
            .Where(t => t.Namespace is not null && (t.Namespace.StartsWith("Iser.Transport.Iser.Verbs", StringComparison.Ordinal) || t.Namespace.StartsWith("Iser.Transport.Iser.Memory", StringComparison.Ordinal)))
            .ToArray();

        Assert.Contains(types, t => t.Name == "LibIbverbs");
        Assert.Contains(types, t => t.Name == "LibRdmacm");
        foreach (Type type in types.Where(t => !t.ContainsGenericParameters))
        {
            RuntimeHelpers.RunClassConstructor(type.TypeHandle);
        }
    }

    [Theory]
    [InlineData(RdmaCmEventType.AddrResolved, "RDMA_CM_EVENT_ADDR_RESOLVED")]
    [InlineData(RdmaCmEventType.Established, "RDMA_CM_EVENT_ESTABLISHED")]
    [InlineData(RdmaCmEventType.TimewaitExit, "RDMA_CM_EVENT_TIMEWAIT_EXIT")]
    [InlineData((RdmaCmEventType)42, "RDMA_CM_EVENT_(42)")]
    public void CmEventNamesAreReadableWithoutALibrary(RdmaCmEventType type, string expected)
    {
        Assert.Equal(expected, RdmaCmEvent.EventName(type));
    }
}
