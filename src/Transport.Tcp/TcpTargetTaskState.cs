using Iser.Core.Threading;

namespace Iser.Transport.Tcp;

/// <summary>
/// TCP target bookkeeping for one write command: where its data goes, how much arrived unsolicited, and the
/// R2Ts outstanding. Kept in DataTask.TransportState and reused with the task, so writes allocate nothing.
/// </summary>
internal sealed class TcpTargetTaskState
{
    public Memory<byte> Buffer;
    /// <summary>Unsolicited bytes (immediate + unsolicited Data-Out) the initiator may send.</summary>
    public int UnsolicitedLimit;
    public int UnsolicitedReceived;
    public uint UnsolicitedNextDataSN;
    public bool UnsolicitedDone;
    public readonly AsyncSignal Progress = new();
    public R2TSlot[] Slots = new R2TSlot[4];
    public int SlotCount;
    public Exception? Failure;
    public bool Active;

    public struct R2TSlot
    {
        public uint TargetTransferTag;
        public int Offset;
        public int Length;
        public int Received;
        public uint NextDataSN;
        public bool Done;
    }

    public void Reset(Memory<byte> buffer, int maxOutstandingR2T)
    {
        Buffer = buffer;
        UnsolicitedLimit = 0;
        UnsolicitedReceived = 0;
        UnsolicitedNextDataSN = 0;
        UnsolicitedDone = true;
        SlotCount = 0;
        Failure = null;
        Active = true;
        Progress.Reset();
        if (Slots.Length < maxOutstandingR2T) Slots = new R2TSlot[maxOutstandingR2T];
    }
}
