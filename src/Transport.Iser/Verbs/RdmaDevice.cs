using System.Runtime.InteropServices;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// An open RDMA device context (struct ibv_context). Either opened here (<see cref="Open"/>) or
/// borrowed from an rdma_cm id, whose device context librdmacm owns: QPs on a cm id must use
/// a PD from that very context.
/// </summary>
public sealed unsafe class RdmaDevice : IDisposable
{
    private readonly VerbsOps _ops;

    private RdmaDevice(NativeObjectHandle handle, string name)
    {
        Handle = handle;
        Name = name;
        _ops = VerbsOps.Read(handle.DangerousGetHandle());
    }

    /// <summary>The device name, e.g. "rxe0".</summary>
    public string Name { get; }

    internal NativeObjectHandle Handle { get; }

    /// <summary>The provider's data-path entry points, read once when the device object is created.</summary>
    internal VerbsOps Ops => _ops;

    /// <summary>Names of the RDMA devices present; empty when none (or libibverbs answers ENOSYS).</summary>
    public static IReadOnlyList<string> GetDeviceNames()
    {
        RdmaRuntime.EnsureSupported();
        return DeviceList.ReadNames(out _);
    }

    /// <summary>Opens a device by name, or the first device when <paramref name="name"/> is null.</summary>
    public static RdmaDevice Open(string? name = null)
    {
        RdmaRuntime.EnsureSupported();
        NativeObjectHandle? handle = null;
        string? openedName = null;
        Exception? failure = null;
        int errno = DeviceList.Visit((device, deviceName) =>
        {
            if (name is not null && deviceName != name)
            {
                return false;
            }

            try
            {
                handle = NativeObjectHandle.Create(
                    NativeObjectKind.OwnedDeviceContext, $"ibv_open_device({deviceName})", () => LibIbverbs.ibv_open_device(device), null);
                openedName = deviceName;
            }
            catch (VerbsException ex)
            {
                failure = ex;
            }

            return true;
        });

        if (errno != 0)
        {
            throw new VerbsException("ibv_get_device_list", errno);
        }

        if (failure is not null)
        {
            throw failure;
        }

        return handle is null
            ? throw new VerbsException("opening an RDMA device", name is null ? "no RDMA devices are present." : $"no RDMA device is named '{name}'.")
            : new RdmaDevice(handle, openedName!);
    }

    /// <summary>The device context librdmacm bound the id to; holds the id until the device object is released.</summary>
    internal static RdmaDevice FromCmId(NativeObjectHandle cmId)
    {
        IntPtr verbs = *(IntPtr*)((byte*)cmId.DangerousGetHandle() + NativeLayout.RdmaCmId.Verbs);
        if (verbs == IntPtr.Zero)
        {
            throw new VerbsException("rdma_cm", "the connection identifier is not bound to an RDMA device yet (resolve or bind an address first).");
        }

        NativeObjectHandle handle = NativeObjectHandle.Create(
            NativeObjectKind.BorrowedDeviceContext, "rdma_cm_id->verbs", () => verbs, null, cmId);
        IntPtr device = *(IntPtr*)((byte*)verbs + NativeLayout.IbvContext.Device);
        string name = Marshal.PtrToStringUTF8(LibIbverbs.ibv_get_device_name(device)) ?? "unknown";
        return new RdmaDevice(handle, name);
    }

    /// <summary>
    /// The same device context, held by no rdma_cm id: for resources shared by many connections (a PD, its
    /// registrations) that must not keep the id they were first seen on alive. librdmacm keeps the contexts it
    /// opened for the life of the process (closing one only when its device is removed), so the pointer stays valid.
    /// </summary>
    internal RdmaDevice ShareContext()
    {
        IntPtr context = Handle.DangerousGetHandle();
        return new RdmaDevice(NativeObjectHandle.Create(NativeObjectKind.BorrowedDeviceContext, "ibv_context (shared)", () => context, null), Name);
    }

    public DeviceAttributes QueryDevice()
    {
        IbvDeviceAttrNative attr = default;
        using (HandleLease lease = new(Handle))
        {
            VerbsException.ThrowIfFailed("ibv_query_device", LibIbverbs.ibv_query_device(lease.Pointer, (byte*)&attr));
        }

        string firmware = Marshal.PtrToStringUTF8((IntPtr)attr.FwVer) ?? "";
        return new DeviceAttributes(
            firmware, attr.NodeGuid, attr.MaxMrSize, attr.VendorId, attr.VendorPartId, attr.MaxQp, attr.MaxQpWr,
            attr.MaxSge, attr.MaxCq, attr.MaxCqe, attr.MaxMr, attr.MaxPd, attr.MaxQpRdAtom, attr.MaxQpInitRdAtom,
            attr.PhysPortCnt, attr.MaxSrq, attr.MaxSrqWr);
    }

    /// <summary>Queries a port (ports are numbered from 1).</summary>
    public PortAttributes QueryPort(byte portNumber = 1)
    {
        IbvPortAttrNative attr = default; // zeroed, as verbs.h's fallback does before the compat call
        using (HandleLease lease = new(Handle))
        {
            VerbsException.ThrowIfFailed($"ibv_query_port(port {portNumber})", LibIbverbs.ibv_query_port_compat(lease.Pointer, portNumber, (byte*)&attr));
        }

        return new PortAttributes(
            attr.State, PortAttributes.MtuBytes(attr.MaxMtu), PortAttributes.MtuBytes(attr.ActiveMtu), attr.GidTblLen, attr.MaxMsgSz, attr.LinkLayer);
    }

    /// <summary>Reads one GID table entry (16 bytes; for RoCE v2 an IPv4-mapped IPv6 address).</summary>
    public byte[] QueryGid(byte portNumber, int index)
    {
        byte[] gid = new byte[NativeLayout.IbvGid.Size];
        using HandleLease lease = new(Handle);
        fixed (byte* p = gid)
        {
            if (LibIbverbs.ibv_query_gid(lease.Pointer, portNumber, index, p) != 0)
            {
                throw VerbsException.FromLastError($"ibv_query_gid(port {portNumber}, index {index})");
            }
        }

        return gid;
    }

    public ProtectionDomain AllocateProtectionDomain() => new(this);

    public CompletionChannel CreateCompletionChannel() => new(this);

    /// <summary>Creates a CQ with at least <paramref name="entries"/> entries, reporting events on <paramref name="channel"/> if given.</summary>
    public CompletionQueue CreateCompletionQueue(int entries, CompletionChannel? channel = null) => new(this, entries, channel);

    public void Dispose() => Handle.Dispose();
}
