using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;

namespace Iser.Tests.Initiator;

/// <summary>
/// A small SBC block device in memory for driving the initiator against our target in-process: INQUIRY, TEST UNIT
/// READY, READ CAPACITY 10/16, READ/WRITE 10/16, SYNCHRONIZE CACHE, UNMAP. <see cref="WriteGate"/> lets a test hold
/// writes inside the LU (to cancel or time them out).
/// </summary>
internal sealed class RamLogicalUnit : ILogicalUnit
{
    private readonly byte[] _data;
    private int _cancelledCommands;

    public RamLogicalUnit(long blockCount, int blockSize = 512)
    {
        BlockCount = blockCount;
        BlockSize = blockSize;
        _data = new byte[blockCount * blockSize];
    }

    public long BlockCount { get; }
    public int BlockSize { get; }
    /// <summary>When set, WRITE commands wait for it (or their cancellation) before storing data.</summary>
    public TaskCompletionSource? WriteGate { get; set; }
    public int CancelledCommands => Volatile.Read(ref _cancelledCommands);
    /// <summary>Commands still to be answered with UNIT ATTENTION (POWER ON, RESET), as a device does after a reset.</summary>
    public int PendingUnitAttentions;
    public int UnmapCount;
    public int FlushCount;

    public Span<byte> Blocks(long lba, int count) => _data.AsSpan((int)(lba * BlockSize), count * BlockSize);

    public async ValueTask<ScsiCommandResult> ExecuteAsync(IScsiTask task, CancellationToken cancellationToken)
    {
        var cdb = task.Cdb.Span;
        if (cdb[0] != 0x12 && TakeUnitAttention()) return CheckCondition(0x6, 0x29, 0x00);
        switch (cdb[0])
        {
            case 0x00: return ScsiCommandResult.Good();
            case 0x12: return Inquiry(task, BinaryPrimitives.ReadUInt16BigEndian(cdb[3..]));
            case 0x25:
            {
                var buf = task.GetDataInBuffer(8).Span;
                BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)Math.Min(BlockCount - 1, uint.MaxValue));
                BinaryPrimitives.WriteUInt32BigEndian(buf[4..], (uint)BlockSize);
                return ScsiCommandResult.Good(dataInLength: 8);
            }
            case 0x9e when (cdb[1] & 0x1f) == 0x10:
            {
                int alloc = (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]);
                var buf = task.GetDataInBuffer(32).Span;
                buf.Clear();
                BinaryPrimitives.WriteUInt64BigEndian(buf, (ulong)(BlockCount - 1));
                BinaryPrimitives.WriteUInt32BigEndian(buf[8..], (uint)BlockSize);
                return ScsiCommandResult.Good(dataInLength: Math.Min(32, alloc));
            }
            case 0x28: return Read(task, BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]));
            case 0x88: return Read(task, (long)BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]), (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]));
            case 0x2a: return await WriteAsync(task, BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]), cancellationToken);
            case 0x8a: return await WriteAsync(task, (long)BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]), (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), cancellationToken);
            case 0x35:
            case 0x91:
                Interlocked.Increment(ref FlushCount);
                return ScsiCommandResult.Good();
            case 0x42:
            {
                int length = BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
                var list = (await task.ReceiveDataOutAsync(length, cancellationToken)).Span;
                for (int off = 8; off + 16 <= length; off += 16)
                {
                    long lba = (long)BinaryPrimitives.ReadUInt64BigEndian(list[off..]);
                    int count = (int)BinaryPrimitives.ReadUInt32BigEndian(list[(off + 8)..]);
                    if (lba + count > BlockCount) return CheckCondition(0x5, 0x21, 0x00, dataOut: length);
                    Blocks(lba, count).Clear();
                }
                Interlocked.Increment(ref UnmapCount);
                return ScsiCommandResult.Good(dataOutLength: length);
            }
            default:
                return CheckCondition(0x5, 0x20, 0x00);
        }
    }

    private bool TakeUnitAttention()
    {
        while (true)
        {
            int pending = Volatile.Read(ref PendingUnitAttentions);
            if (pending <= 0) return false;
            if (Interlocked.CompareExchange(ref PendingUnitAttentions, pending - 1, pending) == pending) return true;
        }
    }

    private ScsiCommandResult Inquiry(IScsiTask task, int allocation)
    {
        var buf = task.GetDataInBuffer(36).Span;
        buf.Clear();
        buf[0] = 0x00; // direct access block device
        buf[2] = 0x06; // SPC-4
        buf[3] = 0x02;
        buf[4] = 31;
        "ISER    "u8.CopyTo(buf[8..]);
        "RAM DISK        "u8.CopyTo(buf[16..]);
        "0001"u8.CopyTo(buf[32..]);
        return ScsiCommandResult.Good(dataInLength: Math.Min(36, allocation));
    }

    private ScsiCommandResult Read(IScsiTask task, long lba, int blocks)
    {
        if (lba + blocks > BlockCount) return CheckCondition(0x5, 0x21, 0x00);
        int length = blocks * BlockSize;
        Blocks(lba, blocks).CopyTo(task.GetDataInBuffer(length).Span);
        return ScsiCommandResult.Good(dataInLength: length);
    }

    private async ValueTask<ScsiCommandResult> WriteAsync(IScsiTask task, long lba, int blocks, CancellationToken ct)
    {
        int length = blocks * BlockSize;
        if (lba + blocks > BlockCount) return CheckCondition(0x5, 0x21, 0x00, dataOut: length);
        var data = await task.ReceiveDataOutAsync(length, ct);
        if (WriteGate is { } gate)
        {
            try { await gate.Task.WaitAsync(ct); }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _cancelledCommands);
                throw;
            }
        }
        data.Span.CopyTo(Blocks(lba, blocks));
        return ScsiCommandResult.Good(dataOutLength: length);
    }

    private static ScsiCommandResult CheckCondition(byte key, byte asc, byte ascq, int dataOut = 0)
    {
        var sense = new byte[18];
        sense[0] = 0x70;
        sense[2] = key;
        sense[7] = 10;
        sense[12] = asc;
        sense[13] = ascq;
        return new ScsiCommandResult { Status = ScsiStatus.CheckCondition, Sense = sense, DataOutLength = dataOut };
    }

    public void Reset(LogicalUnitResetKind kind) { }
    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
