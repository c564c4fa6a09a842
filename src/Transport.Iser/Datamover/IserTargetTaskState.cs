using Iser.Transport.Iser.Memory;

namespace Iser.Transport.Iser.Datamover;

/// <summary>What the target keeps per task on iSER: the initiator's advertised buffers and the task's write buffer.</summary>
internal sealed class IserTargetTaskState
{
    public readonly TargetDataTransfers.Scratch Scratch = new();
    public bool HasWrite;
    public uint WriteStag;
    public ulong WriteVa;
    public bool HasRead;
    public uint ReadStag;
    public ulong ReadVa;
    public Memory<byte> WriteBuffer;
    /// <summary>A registered data buffer lent to the core for the read data (LendDataInBuffer), until Put_Data or return.</summary>
    public RegisteredBlock LentBlock;
    public volatile bool Active;
}
