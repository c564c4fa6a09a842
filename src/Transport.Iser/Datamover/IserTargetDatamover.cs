using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// iSER target datamover (RFC 7145 §7.3): Get_Data is RDMA READ from the initiator's Write STag, Put_Data is RDMA
/// WRITE to its Read STag; the core then sends the SCSI Response by SEND, which the RC queue pair delivers only
/// after the WRITEs before it. No R2T, Data-In or Data-Out ever crosses the wire, and status never rides in data.
/// </summary>
public sealed class IserTargetDatamover : IserConnection, ITargetDatamover
{
    internal IserTargetDatamover(RdmaConnection rdma, IserOptions options, ILogger logger, TargetDeviceResources resources,
        CompletionWorker? worker, ConnectionEventThread eventThread, string localEndPoint, string remoteEndPoint)
        : base(rdma, options, logger, resources.DataBuffers, worker is null ? null : resources, worker, eventThread, localEndPoint, remoteEndPoint)
    {
    }

    public void BeginTask(DataTask task, Pdu command, Memory<byte> writeBuffer)
    {
        var state = task.TransportState as IserTargetTaskState ?? new IserTargetTaskState();
        task.TransportState = state;
        var rdma = command.Rdma;
        state.HasWrite = rdma.HasWrite;
        state.WriteStag = rdma.WriteStag;
        state.WriteVa = rdma.WriteVa;
        state.HasRead = rdma.HasRead;
        state.ReadStag = rdma.ReadStag;
        state.ReadVa = rdma.ReadVa;
        state.WriteBuffer = writeBuffer;
        state.Active = true;
    }

    public async ValueTask<bool> PutDataAsync(DataTask task, ReadOnlyMemory<byte> data, int bufferOffset, bool isLast,
        CollapsedStatus? collapsedStatus, CancellationToken cancellationToken = default)
    {
        var state = task.TransportState as IserTargetTaskState
            ?? throw new InvalidOperationException("Put_Data on a task the iSER datamover never began.");
        if (data.IsEmpty) return false;
        if (!state.HasRead)
            throw new DataTransferRefusedException(
                $"Task 0x{task.InitiatorTaskTag:x8} has {data.Length} bytes of read data, but the initiator advertised no Read STag for it.");
        int length = data.Length + ZeroFillAfter(task, bufferOffset + data.Length, isLast);
        if (TakeLentBlockHolding(state, data, length) is { IsValid: true } lent)
        {
            // The logical unit read straight into registered memory: the RDMA WRITE goes from there, no copy.
            lent.Span[data.Length..length].Clear();
            DataTransfers!.PostLentWrite(lent, length, state.ReadVa + (ulong)bufferOffset, state.ReadStag);
            return false;
        }
        await DataTransfers!.TransferAsync(state.Scratch, read: false, default, data, length,
            state.ReadStag, state.ReadVa + (ulong)bufferOffset, cancellationToken).ConfigureAwait(false);
        // iSER never collapses status into data: the SCSI Response follows by SEND.
        return false;
    }

    /// <summary>
    /// Zeros to write after a short last Put_Data, up to the initiator's expected read length. The SCSI Response's
    /// residual count says how much is data, but libiscsi's iSER transport (1.20) hands its application the whole
    /// expected length, so the bytes we leave alone show whatever an earlier command put in its buffer (iscsi-test-cu's
    /// INQUIRY test flags that as leaked data). Short answers are small (INQUIRY, MODE SENSE, REPORT LUNS with a large
    /// allocation length), so only a read whose whole buffer fits one bounce buffer is filled; bulk reads are never short.
    /// </summary>
    private int ZeroFillAfter(DataTask task, int end, bool isLast)
    {
        int expected = task.ExpectedDataInLength;
        return isLast && end < expected && expected <= Options.DataBufferSize ? expected - end : 0;
    }

    public async ValueTask GetDataAsync(DataTask task, int length, CancellationToken cancellationToken = default)
    {
        var state = task.TransportState as IserTargetTaskState
            ?? throw new InvalidOperationException("Get_Data on a task the iSER datamover never began.");
        if (length == 0) return;
        if (length > state.WriteBuffer.Length) throw new ArgumentOutOfRangeException(nameof(length));
        if (Rdma.InitiatorDepth == 0)
            throw new DataTransferRefusedException(
                $"Task 0x{task.InitiatorTaskTag:x8} needs {length} bytes of write data, but the initiator accepts no RDMA READs on this connection (responder_resources 0 in its connect request).");
        if (!state.HasWrite)
            throw new DataTransferRefusedException(
                $"Task 0x{task.InitiatorTaskTag:x8} needs {length} bytes of write data, but the initiator advertised no Write STag for it.");
        await DataTransfers!.TransferAsync(state.Scratch, read: true, state.WriteBuffer, default, length, state.WriteStag, state.WriteVa,
            cancellationToken).ConfigureAwait(false);
    }

    public Memory<byte> LendDataInBuffer(DataTask task, int length)
    {
        if (task.TransportState is not IserTargetTaskState { HasRead: true } state || length > Options.DataBufferSize) return Memory<byte>.Empty;
        lock (state)
        {
            if (state.LentBlock.IsValid) return state.LentBlock.Memory;
            if (DataTransfers is not { } data || !data.TryRent(length, out var block)) return Memory<byte>.Empty;
            state.LentBlock = block;
            return block.Memory;
        }
    }

    public void ReturnDataInBuffer(DataTask task)
    {
        if (task.TransportState is not IserTargetTaskState state) return;
        RegisteredBlock block;
        lock (state)
        {
            block = state.LentBlock;
            state.LentBlock = default;
        }
        if (block.IsValid) DataTransfers!.ReturnLent(block);
    }

    /// <summary>The lent block, taken from the task, if <paramref name="data"/> is its start and the WRITE fits it.</summary>
    private static RegisteredBlock TakeLentBlockHolding(IserTargetTaskState state, ReadOnlyMemory<byte> data, int length)
    {
        lock (state)
        {
            var block = state.LentBlock;
            if (!block.IsValid || length > block.Length
                || !Unsafe.AreSame(ref MemoryMarshal.GetReference(data.Span), ref MemoryMarshal.GetReference(block.Span)))
                return default;
            state.LentBlock = default;
            return block;
        }
    }

    public void EndTask(DataTask task)
    {
        // Transfers in flight finish (or flush) before their bounce buffers return; nothing is freed under them here.
        if (task.TransportState is IserTargetTaskState state) state.Active = false;
    }
}
