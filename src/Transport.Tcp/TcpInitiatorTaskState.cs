namespace Iser.Transport.Tcp;

/// <summary>
/// TCP initiator bookkeeping for one command: where Data-In lands, where Data-Out comes from, and the sequence
/// numbers expected next. Kept in DataTask.TransportState and reused with the task.
/// </summary>
internal sealed class TcpInitiatorTaskState
{
    public Memory<byte> ReadBuffer;
    public ReadOnlyMemory<byte> WriteBuffer;
    public uint ExpectedR2TSN;
    public int ReadBytesPlaced;
    public bool Active;
    /// <summary>ERL 1: DataSNs asked for again (lost or corrupt) and not yet arrived; allocated on the first loss only.</summary>
    public HashSet<uint>? Missing;

    public void Reset(Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer)
    {
        ReadBuffer = readBuffer;
        WriteBuffer = writeBuffer;
        ExpectedR2TSN = 0;
        ReadBytesPlaced = 0;
        Active = true;
        Missing?.Clear();
    }
}
