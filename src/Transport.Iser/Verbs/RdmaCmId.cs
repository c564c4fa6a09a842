using System.Buffers.Binary;
using System.Net;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// An rdma_cm connection identifier (RDMA_PS_TCP, i.e. reliable connected). Each step that
/// completes asynchronously (address, route, connect, accept) is paired with a wait for its event
/// on <see cref="Channel"/>; events for this id are only ever read from that channel.
/// </summary>
public sealed unsafe class RdmaCmId : IDisposable
{
    /// <summary>Creates a new id on <paramref name="channel"/>.</summary>
    public RdmaCmId(RdmaCmEventChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        Channel = channel;
        IntPtr channelPointer = channel.Handle.DangerousGetHandle();
        Handle = NativeObjectHandle.Create(NativeObjectKind.CmId, "rdma_create_id", () =>
        {
            IntPtr id;
            return LibRdmacm.rdma_create_id(channelPointer, &id, IntPtr.Zero, NativeLayout.Values.RdmaPsTcp) == 0 ? id : IntPtr.Zero;
        }, null, channel.Handle);
    }

    private RdmaCmId(NativeObjectHandle handle, RdmaCmEventChannel channel)
    {
        Handle = handle;
        Channel = channel;
    }

    public RdmaCmEventChannel Channel { get; }

    internal NativeObjectHandle Handle { get; }

    /// <summary>True once librdmacm has bound the id to a device (after bind to a device address or address resolution).</summary>
    public bool HasDevice
    {
        get
        {
            using HandleLease lease = new(Handle);
            return *(IntPtr*)((byte*)lease.Pointer + NativeLayout.RdmaCmId.Verbs) != IntPtr.Zero;
        }
    }

    /// <summary>Local port (host order), e.g. the one chosen when binding port 0.</summary>
    public int SourcePort
    {
        get
        {
            using HandleLease lease = new(Handle);
            return BinaryPrimitives.ReverseEndianness(LibRdmacm.rdma_get_src_port(lease.Pointer));
        }
    }

    /// <summary>Remote port (host order).</summary>
    public int DestinationPort
    {
        get
        {
            using HandleLease lease = new(Handle);
            return BinaryPrimitives.ReverseEndianness(LibRdmacm.rdma_get_dst_port(lease.Pointer));
        }
    }

    /// <summary>
    /// Takes ownership of an id librdmacm created for a connect request (it arrives on the
    /// listener's channel) and moves it to <paramref name="channel"/>, so its later events
    /// (ESTABLISHED, DISCONNECTED) are read there and not on the listener's channel. On failure the
    /// id is destroyed.
    /// </summary>
    internal static RdmaCmId AdoptAndMigrate(IntPtr id, RdmaCmEventChannel channel)
    {
        using (HandleLease lease = new(channel.Handle))
        {
            if (LibRdmacm.rdma_migrate_id(id, lease.Pointer) != 0)
            {
                VerbsException failure = VerbsException.FromLastError("rdma_migrate_id");
                LibRdmacm.rdma_destroy_id(id);
                throw failure;
            }
        }

        NativeObjectHandle handle = NativeObjectHandle.Create(NativeObjectKind.CmId, "rdma_migrate_id", () => id, null, channel.Handle);
        return new RdmaCmId(handle, channel);
    }

    public void BindAddress(IPEndPoint address)
    {
        SockAddrIn sa = SockAddrIn.From(address);
        using HandleLease lease = new(Handle);
        if (LibRdmacm.rdma_bind_addr(lease.Pointer, (byte*)&sa) != 0)
        {
            throw VerbsException.FromLastError($"rdma_bind_addr({address})");
        }
    }

    public void Listen(int backlog)
    {
        using HandleLease lease = new(Handle);
        if (LibRdmacm.rdma_listen(lease.Pointer, backlog) != 0)
        {
            throw VerbsException.FromLastError("rdma_listen");
        }
    }

    /// <summary>rdma_resolve_addr, then waits for RDMA_CM_EVENT_ADDR_RESOLVED.</summary>
    public void ResolveAddress(IPEndPoint? source, IPEndPoint destination, int timeoutMs)
    {
        SockAddrIn dst = SockAddrIn.From(destination);
        SockAddrIn src = source is null ? default : SockAddrIn.From(source);
        using (HandleLease lease = new(Handle))
        {
            if (LibRdmacm.rdma_resolve_addr(lease.Pointer, source is null ? null : (byte*)&src, (byte*)&dst, timeoutMs) != 0)
            {
                throw VerbsException.FromLastError($"rdma_resolve_addr({destination})");
            }
        }

        WaitForEvent(RdmaCmEventType.AddrResolved, timeoutMs + 1000, $"resolving the RDMA address of {destination}");
    }

    /// <summary>rdma_resolve_route, then waits for RDMA_CM_EVENT_ROUTE_RESOLVED.</summary>
    public void ResolveRoute(int timeoutMs)
    {
        using (HandleLease lease = new(Handle))
        {
            if (LibRdmacm.rdma_resolve_route(lease.Pointer, timeoutMs) != 0)
            {
                throw VerbsException.FromLastError("rdma_resolve_route");
            }
        }

        WaitForEvent(RdmaCmEventType.RouteResolved, timeoutMs + 1000, "resolving the RDMA route");
    }

    /// <summary>The device context librdmacm bound this id to (borrowed; keeps the id alive while in use).</summary>
    public RdmaDevice OpenDevice() => RdmaDevice.FromCmId(Handle);

    /// <summary>rdma_create_qp: an RC QP on this id, using <paramref name="pd"/> (which must come from <see cref="OpenDevice"/>'s context).</summary>
    public QueuePair CreateQueuePair(ProtectionDomain pd, CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairCapacities capacities,
        SharedReceiveQueue? srq = null) =>
        QueuePair.CreateOnCmId(Handle, pd, sendQueue, receiveQueue, capacities, srq);

    /// <summary>
    /// rdma_set_option(RDMA_OPTION_ID_ACK_TIMEOUT): the QP's local ACK timeout exponent (4.096 µs × 2^n)
    /// applied when rdma_cm moves the QP to RTS. With the retry count it bounds how long a dead peer
    /// goes unnoticed by posted work (retry exceeded).
    /// </summary>
    public void SetAckTimeout(byte exponent)
    {
        // rdma_cma.h: RDMA_OPTION_ID = 0 (level), RDMA_OPTION_ID_ACK_TIMEOUT = 3 (a u8).
        const int RdmaOptionId = 0, RdmaOptionIdAckTimeout = 3;
        using HandleLease lease = new(Handle);
        if (LibRdmacm.rdma_set_option(lease.Pointer, RdmaOptionId, RdmaOptionIdAckTimeout, &exponent, 1) != 0)
        {
            throw VerbsException.FromLastError("rdma_set_option(RDMA_OPTION_ID_ACK_TIMEOUT)");
        }
    }

    /// <summary>rdma_connect with private data; does not wait (see <see cref="WaitForEvent"/>).</summary>
    public void Connect(ReadOnlySpan<byte> privateData, byte responderResources, byte initiatorDepth, byte retryCount, byte rnrRetryCount)
    {
        fixed (byte* data = privateData)
        {
            RdmaConnParam param = ConnParam(data, privateData.Length, responderResources, initiatorDepth, retryCount, rnrRetryCount);
            using HandleLease lease = new(Handle);
            if (LibRdmacm.rdma_connect(lease.Pointer, (byte*)&param) != 0)
            {
                throw VerbsException.FromLastError("rdma_connect");
            }
        }
    }

    /// <summary>rdma_accept with private data; does not wait for ESTABLISHED.</summary>
    public void Accept(ReadOnlySpan<byte> privateData, byte responderResources, byte initiatorDepth, byte rnrRetryCount)
    {
        fixed (byte* data = privateData)
        {
            RdmaConnParam param = ConnParam(data, privateData.Length, responderResources, initiatorDepth, 7, rnrRetryCount);
            using HandleLease lease = new(Handle);
            if (LibRdmacm.rdma_accept(lease.Pointer, (byte*)&param) != 0)
            {
                throw VerbsException.FromLastError("rdma_accept");
            }
        }
    }

    /// <summary>rdma_reject with optional private data (the peer sees RDMA_CM_EVENT_REJECTED).</summary>
    public void Reject(ReadOnlySpan<byte> privateData)
    {
        CheckPrivateDataLength(privateData.Length);
        fixed (byte* data = privateData)
        {
            using HandleLease lease = new(Handle);
            if (LibRdmacm.rdma_reject(lease.Pointer, privateData.IsEmpty ? null : data, (byte)privateData.Length) != 0)
            {
                throw VerbsException.FromLastError("rdma_reject");
            }
        }
    }

    /// <summary>rdma_disconnect: moves the QP to the error state (outstanding WRs flush) and tells the peer.</summary>
    public void Disconnect()
    {
        using HandleLease lease = new(Handle);
        if (LibRdmacm.rdma_disconnect(lease.Pointer) != 0)
        {
            throw VerbsException.FromLastError("rdma_disconnect");
        }
    }

    /// <summary>
    /// Reads the next event of this id's channel and checks it is <paramref name="expected"/>;
    /// any other event (or a timeout) is thrown as a sentence naming <paramref name="step"/>.
    /// </summary>
    public RdmaCmEvent WaitForEvent(RdmaCmEventType expected, int timeoutMs, string step)
    {
        RdmaCmEvent? evt = Channel.GetEvent(timeoutMs);
        if (evt is null)
        {
            throw new VerbsException(step, $"no {RdmaCmEvent.EventName(expected)} within {timeoutMs} ms.");
        }

        if (evt.Type != expected)
        {
            string detail = evt.Type == RdmaCmEventType.Rejected
                ? $"the peer rejected the connection ({evt}{(evt.PrivateData.Length > 0 ? $", {evt.PrivateData.Length} bytes of private data" : "")})."
                : $"expected {RdmaCmEvent.EventName(expected)}, got {evt}.";
            throw new RdmaCmEventException(step, detail, evt);
        }

        return evt;
    }

    private static RdmaConnParam ConnParam(byte* data, int length, byte responderResources, byte initiatorDepth, byte retryCount, byte rnrRetryCount)
    {
        CheckPrivateDataLength(length);
        return new RdmaConnParam
        {
            PrivateData = length == 0 ? null : data,
            PrivateDataLen = (byte)length,
            ResponderResources = responderResources,
            InitiatorDepth = initiatorDepth,
            RetryCount = retryCount,
            RnrRetryCount = rnrRetryCount,
        };
    }

    private static void CheckPrivateDataLength(int length)
    {
        if (length > byte.MaxValue)
        {
            throw new ArgumentException($"rdma_cm private data is at most 255 bytes (IB/RoCE allow less: 56 in a connect request), not {length}.");
        }
    }

    public void Dispose() => Handle.Dispose();
}
