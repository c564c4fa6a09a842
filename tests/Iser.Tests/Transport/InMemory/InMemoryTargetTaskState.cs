namespace Iser.Tests.Transport.InMemory;

/// <summary>What the in-memory target datamover keeps per task: the initiator's registration it was given, and the write buffer.</summary>
internal sealed class InMemoryTargetTaskState
{
    public InMemoryBufferRegistration? Registration;
    public uint Key;
    public bool HasRead;
    public bool HasWrite;
    public Memory<byte> WriteBuffer;
}
