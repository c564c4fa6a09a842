namespace Iser.LabPeer;

/// <summary>
/// What the lab test and this peer agree on (the test keeps its own copy of these numbers).
/// Private data (either direction of the CM exchange): the peer's buffer as [u64 address][u32 rkey][u32 length],
/// little-endian. The buffer's second half holds <see cref="PatternByte"/> for the test to RDMA READ.
/// Commands are SENDs of [u32 command][u32 length].
/// </summary>
internal static class PeerProtocol
{
    public const int BufferLength = 64 * 1024;
    public const int PatternOffset = BufferLength / 2;
    public const int PrivateDataLength = 16;
    public const int CommandLength = 8;

    /// <summary>Peer answers with a SEND of its buffer's first <c>length</c> bytes (what the test RDMA WROTE there).</summary>
    public const uint EchoBuffer = 1;

    /// <summary>Peer disconnects and exits 0.</summary>
    public const uint Bye = 2;

    public static byte PatternByte(int index) => (byte)(index * 31 + 7);
}
