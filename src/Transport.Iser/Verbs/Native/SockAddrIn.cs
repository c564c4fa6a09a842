using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>struct sockaddr_in (IPv4 only: the lab and iSER portals here are IPv4).</summary>
[StructLayout(LayoutKind.Explicit, Size = NativeLayout.SockAddrIn.Size)]
internal struct SockAddrIn
{
    [FieldOffset(NativeLayout.SockAddrIn.Family)] public ushort Family;
    /// <summary>Network byte order.</summary>
    [FieldOffset(NativeLayout.SockAddrIn.Port)] public ushort Port;
    /// <summary>Network byte order.</summary>
    [FieldOffset(NativeLayout.SockAddrIn.Addr)] public uint Addr;

    internal static SockAddrIn From(IPEndPoint endPoint)
    {
        if (endPoint.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"Only IPv4 endpoints are supported by the rdma_cm binding, not {endPoint}.", nameof(endPoint));
        }

        Span<byte> bytes = stackalloc byte[4];
        endPoint.Address.TryWriteBytes(bytes, out _);
        return new SockAddrIn
        {
            Family = NativeLayout.Values.AfInet,
            Port = BinaryPrimitives.ReverseEndianness((ushort)endPoint.Port),
            // The four bytes are already in network order; store them as they are.
            Addr = MemoryMarshal.Read<uint>(bytes),
        };
    }
}
