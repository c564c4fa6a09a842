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
    /// <summary>The unsolicited burst broke (a digest error, a retried command): later unsolicited PDUs are dropped.</summary>
    public bool UnsolicitedAbandoned;
    /// <summary>Environment.TickCount64 of the last Data-Out (or of the start): a retry re-solicits only what stalled.</summary>
    public long LastProgressTicks;
    // Tags of R2Ts replaced by a recovery R2T (ERL 1): data still arriving under them is dropped, not rejected.
    private uint[] _retired = new uint[4];
    private int _retiredCount;
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
        public uint R2TSN;
        public long LastProgressTicks;
        public bool Done;
    }

    public void Retire(uint tag)
    {
        if (_retiredCount == _retired.Length) Array.Resize(ref _retired, _retired.Length * 2);
        _retired[_retiredCount++] = tag;
    }

    public bool IsRetired(uint tag) => Array.IndexOf(_retired, tag, 0, _retiredCount) >= 0;

    public void Reset(Memory<byte> buffer, int maxOutstandingR2T)
    {
        UnsolicitedAbandoned = false;
        _retiredCount = 0;
        LastProgressTicks = Environment.TickCount64;
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
