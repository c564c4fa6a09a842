using System.Net.Sockets;
using System.Runtime.InteropServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Tcp;

/// <summary>
/// iSCSI over TCP, initiator side (RFC 7143). A command goes out with its immediate data and unsolicited Data-Out;
/// R2Ts are answered here with Data-Out from the task's write buffer, and Data-In segments are read from the socket
/// straight into the task's read buffer at their BufferOffset. Every header (Data-In and R2T included) still goes up
/// to the core, which needs their StatSN, ExpCmdSN, MaxCmdSN and status.
/// </summary>
public sealed class TcpInitiatorDatamover : TcpDatamoverConnection, IInitiatorDatamover
{
    private readonly Dictionary<uint, DataTask> _tasks = new();

    /// <param name="ownThread">Read by a thread of the connection's own, blocking in recv(2) (see <see cref="TcpInitiatorOptions.ReceiveThread"/>).</param>
    public TcpInitiatorDatamover(Socket socket, ILogger logger, bool ownThread = false) : base(socket, logger, ownThread) { }

    // The receive loop tells the receiver each time its buffer is empty; a send batch is the writer's cork.
    public bool ReportsReceiveIdle => true;
    public void BeginSendBatch() => Writer.Cork();
    public void EndSendBatch() => Writer.Uncork(flush: true);
    public void FlushSends() => Writer.Flush();

    private protected override async ValueTask<Pdu?> ReadPduAsync(CancellationToken cancellationToken)
    {
        var pdu = PduPool.Rent();
        try
        {
            if (!await Reader.ReadHeaderAsync(pdu, receiverIsTarget: false, ReceiveLimit, cancellationToken).ConfigureAwait(false))
            {
                PduPool.Return(pdu);
                return null;
            }
            ReportDiscardedHeader();
            if (FullFeature && pdu.Opcode == IscsiOpcode.DataIn)
            {
                await ReceiveDataInAsync(pdu, cancellationToken).ConfigureAwait(false);
                return pdu;
            }
            if (FullFeature && pdu.Opcode == IscsiOpcode.ReadyToTransfer)
            {
                await Reader.SkipDataAsync(pdu.DataSegmentLength, cancellationToken).ConfigureAwait(false);
                AnswerR2T(pdu);
                return pdu;
            }
            try
            {
                await Reader.ReadDataAsync(pdu.AllocateData(pdu.DataSegmentLength), cancellationToken).ConfigureAwait(false);
            }
            catch (PduFormatException e) when (e.Recoverable)
            {
                // The header is sound, so the stream is still in step; the core decides what a bad payload means.
                Logger.LogWarning("{Remote}: {Error} ({Pdu})", RemoteEndPoint, e.Message, pdu.Opcode);
                pdu.Context = new DataDigestException(e.Message);
            }
            return pdu;
        }
        catch
        {
            PduPool.Return(pdu);
            throw;
        }
    }

    public ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
        CancellationToken cancellationToken = default)
    {
        var state = task.TransportState as TcpInitiatorTaskState ?? new TcpInitiatorTaskState();
        task.TransportState = state;
        state.Reset(readBuffer, writeBuffer);
        task.NextDataSN = 0;
        task.NextR2TSN = 0;
        lock (_tasks) _tasks[task.InitiatorTaskTag] = task;

        var p = Parameters;
        int immediate = 0, unsolicitedDataOut = 0;
        if (task.IsWrite && !writeBuffer.IsEmpty)
        {
            int edtl = Math.Min(task.ExpectedDataTransferLength, writeBuffer.Length);
            // Unsolicited data (immediate + Data-Out without an R2T) is capped by FirstBurstLength (RFC 7143 §13.14).
            int firstBurst = p.ImmediateData || !p.InitialR2T ? Math.Min(p.FirstBurstLength, edtl) : 0;
            if (p.ImmediateData) immediate = Math.Min(firstBurst, p.MaxXmitDataSegmentLength);
            if (!p.InitialR2T) unsolicitedDataOut = firstBurst - immediate;
        }
        if (immediate > 0) command.SetBorrowedData(MemoryMarshal.AsMemory(writeBuffer[..immediate]));
        // F=1: no unsolicited Data-Out follows this command.
        command.Final = unsolicitedDataOut == 0;
        try
        {
            Writer.Enqueue(command);
            if (unsolicitedDataOut > 0)
                EnqueueDataOut(task, writeBuffer, immediate, unsolicitedDataOut, Pdu.ReservedTag);
        }
        catch
        {
            EndTask(task);
            throw;
        }
        return ValueTask.CompletedTask;
    }

    public bool AdoptTask(DataTask task, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer)
    {
        var state = task.TransportState as TcpInitiatorTaskState ?? new TcpInitiatorTaskState();
        task.TransportState = state;
        lock (state) state.Reset(readBuffer, writeBuffer);
        task.NextDataSN = 0;
        task.DataAckedBelow = 0;
        task.MissingDataIn = 0;
        lock (_tasks) _tasks[task.InitiatorTaskTag] = task;
        return true;
    }

    public void EndTask(DataTask task)
    {
        lock (_tasks)
        {
            if (_tasks.TryGetValue(task.InitiatorTaskTag, out var t) && ReferenceEquals(t, task)) _tasks.Remove(task.InitiatorTaskTag);
        }
        if (task.TransportState is TcpInitiatorTaskState state) lock (state) state.Active = false;
    }

    /// <summary>Data-Out PDUs for one sequence (the unsolicited burst, or one R2T), each within the target's MaxRecvDataSegmentLength.</summary>
    private void EnqueueDataOut(DataTask task, ReadOnlyMemory<byte> writeBuffer, int offset, int length, uint targetTransferTag)
    {
        int segment = Parameters.MaxXmitDataSegmentLength;
        var writable = MemoryMarshal.AsMemory(writeBuffer);
        uint dataSN = 0;
        for (int pos = 0; pos < length;)
        {
            int len = Math.Min(segment, length - pos);
            var pdu = PduPool.Rent();
            pdu.Opcode = IscsiOpcode.DataOut;
            pdu.Final = pos + len == length;
            pdu.Lun = task.Lun;
            pdu.InitiatorTaskTag = task.InitiatorTaskTag;
            pdu.Field20 = targetTransferTag;
            pdu.Field36 = dataSN++;
            pdu.Field40 = (uint)(offset + pos);
            pdu.SetBorrowedData(writable.Slice(offset + pos, len));
            Writer.Enqueue(pdu);
            pos += len;
        }
    }

    private void AnswerR2T(Pdu r2t)
    {
        uint itt = r2t.InitiatorTaskTag;
        DataTask? task;
        lock (_tasks) _tasks.TryGetValue(itt, out task);
        if (task?.TransportState is not TcpInitiatorTaskState state)
        {
            // The task already ended (answered or aborted): nothing to send.
            Logger.LogDebug("{Remote}: R2T for finished task 0x{Itt:x8} ignored", RemoteEndPoint, itt);
            return;
        }
        int offset = (int)Math.Min(r2t.Field40, int.MaxValue);
        int length = (int)Math.Min(r2t.Field44, int.MaxValue);
        uint r2tSN = r2t.Field36;
        ReadOnlyMemory<byte> buffer;
        lock (state)
        {
            if (!state.Active) return;
            buffer = state.WriteBuffer;
            if (r2tSN != state.ExpectedR2TSN)
                Logger.LogWarning("{Remote}: task 0x{Itt:x8}: R2TSN {R2TSN} where {Expected} was expected", RemoteEndPoint, itt, r2tSN, state.ExpectedR2TSN);
            state.ExpectedR2TSN = r2tSN + 1;
        }
        if (length == 0 || (long)offset + length > buffer.Length || length > Parameters.MaxBurstLength)
        {
            // A target asking for data the command does not have is a protocol error the connection cannot survive.
            throw new PduFormatException(
                $"R2T for task 0x{itt:x8} asks for {length} bytes at offset {offset}, outside the {buffer.Length}-byte write buffer or MaxBurstLength {Parameters.MaxBurstLength}.",
                recoverable: false, r2t.Bhs.ToArray());
        }
        EnqueueDataOut(task, buffer, offset, length, r2t.Field20);
    }

    private async ValueTask ReceiveDataInAsync(Pdu header, CancellationToken ct)
    {
        uint itt = header.InitiatorTaskTag;
        int length = header.DataSegmentLength;
        int offset = (int)Math.Min(header.Field40, int.MaxValue);
        uint dataSN = header.Field36;
        DataTask? task;
        lock (_tasks) _tasks.TryGetValue(itt, out task);
        var state = task?.TransportState as TcpInitiatorTaskState;
        Memory<byte> destination = default;
        bool active = false;
        if (state is not null)
        {
            lock (state)
            {
                active = state.Active;
                if (active) destination = state.ReadBuffer;
            }
        }
        if (task is null || !active)
        {
            // Data for a task that ended (aborted or timed out): the stream must still be consumed.
            await Reader.SkipDataAsync(length, ct).ConfigureAwait(false);
            return;
        }
        if ((long)offset + length > destination.Length)
            throw new PduFormatException(
                $"Data-In for task 0x{itt:x8} carries {length} bytes at offset {offset}, beyond the {destination.Length}-byte read buffer.",
                recoverable: false, header.Bhs.ToArray());
        bool recover = Parameters.ErrorRecoveryLevel >= 1;
        if (dataSN != task.NextDataSN && !recover)
        {
            // With ErrorRecoveryLevel 0 a missing Data-In cannot be asked for again (no SNACK): the session must recover.
            throw new PduFormatException(
                $"Data-In for task 0x{itt:x8} has DataSN {dataSN} where {task.NextDataSN} was expected; data was lost or reordered.",
                recoverable: false, header.Bhs.ToArray());
        }
        if (recover && SerialNumber.LessThan(dataSN, task.NextDataSN))
        {
            // A resend (Data SNACK, retried command): placed again only where data is still missing.
            bool wanted;
            lock (state!) wanted = state.Missing?.Contains(dataSN) == true;
            if (!wanted)
            {
                await Reader.SkipDataAsync(length, ct).ConfigureAwait(false);
                return;
            }
        }
        else if (recover && dataSN != task.NextDataSN)
        {
            // ERL 1: the ones in between were lost; the core asks for them again (Data SNACK).
            uint lost = dataSN - task.NextDataSN;
            lock (state!)
            {
                state.Missing ??= new HashSet<uint>();
                for (uint sn = task.NextDataSN; sn != dataSN; sn++) state.Missing.Add(sn);
                task.MissingDataIn = state.Missing.Count;
            }
            header.Context = new DataInGap(task.NextDataSN, lost, $"DataSN {dataSN} arrived where {task.NextDataSN} was expected");
        }
        try
        {
            await Reader.ReadDataAsync(destination.Slice(offset, length), ct).ConfigureAwait(false);
            if (recover)
            {
                lock (state!)
                {
                    if (state.Missing is { Count: > 0 } missing && missing.Remove(dataSN)) task.MissingDataIn = missing.Count;
                }
            }
        }
        catch (PduFormatException e) when (e.Recoverable)
        {
            Logger.LogWarning("{Remote}: task 0x{Itt:x8}: {Error}", RemoteEndPoint, itt, e.Message);
            if (recover)
            {
                lock (state!)
                {
                    state.Missing ??= new HashSet<uint>();
                    state.Missing.Add(dataSN);
                    task.MissingDataIn = state.Missing.Count;
                }
                // A gap reported on the same PDU is asked for with it: one run from the gap through this one.
                header.Context = header.Context is DataInGap gap
                    ? new DataInGap(gap.BegRun, gap.RunLength + 1, $"{gap.Reason}, and DataSN {dataSN} failed its data digest")
                    : new DataInGap(dataSN, 1, $"DataSN {dataSN} failed its data digest");
            }
            else header.Context = new DataDigestException(e.Message);
        }
        if (SerialNumber.GreaterOrEqual(dataSN, task.NextDataSN)) task.NextDataSN = dataSN + 1;
        lock (state!) state.ReadBytesPlaced += length;
    }

    public ValueTask<bool> RetryCommandAsync(DataTask task, Pdu command)
    {
        DataTask? registered;
        lock (_tasks) _tasks.TryGetValue(task.InitiatorTaskTag, out registered);
        if (!ReferenceEquals(registered, task) || task.TransportState is not TcpInitiatorTaskState state)
            return ValueTask.FromResult(false);
        lock (state)
        {
            if (!state.Active) return ValueTask.FromResult(false);
            // The target sends the read data again from the last acknowledged DataSN: take it as new from there.
            state.Missing?.Clear();
            task.MissingDataIn = 0;
            task.NextDataSN = task.DataAckedBelow;
        }
        var p = Parameters;
        var writeBuffer = state.WriteBuffer;
        if (task.IsWrite && p.ImmediateData && !writeBuffer.IsEmpty)
        {
            int immediate = Math.Min(Math.Min(p.FirstBurstLength, Math.Min(task.ExpectedDataTransferLength, writeBuffer.Length)), p.MaxXmitDataSegmentLength);
            command.SetBorrowedData(MemoryMarshal.AsMemory(writeBuffer[..immediate]));
        }
        command.Final = true;
        Writer.Enqueue(command);
        return ValueTask.FromResult(true);
    }

    private protected override void OnTerminating(Exception reason)
    {
        lock (_tasks) _tasks.Clear();
    }
}
