using System.Net.Sockets;
using System.Runtime.InteropServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Tcp;

/// <summary>
/// iSCSI over TCP, target side (RFC 7143). Put_Data becomes Data-In PDUs; Get_Data becomes R2Ts answered by
/// Data-Out PDUs, which this class consumes itself and places straight into the task's write buffer.
/// </summary>
public sealed class TcpTargetDatamover : TcpDatamoverConnection, ITargetDatamover
{
    private readonly Dictionary<uint, DataTask> _writeTasks = new();
    private uint _nextTransferTag;

    public TcpTargetDatamover(Socket socket, ILogger logger) : base(socket, logger) { }

    private protected override async ValueTask<Pdu?> ReadPduAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var pdu = PduPool.Rent();
            try
            {
                if (!await Reader.ReadHeaderAsync(pdu, receiverIsTarget: true, ReceiveLimit, cancellationToken).ConfigureAwait(false))
                {
                    PduPool.Return(pdu);
                    return null;
                }
                ReportDiscardedHeader();
                if (FullFeature && pdu.Opcode == IscsiOpcode.DataOut)
                {
                    await ReceiveDataOutAsync(pdu, cancellationToken).ConfigureAwait(false);
                    PduPool.Return(pdu);
                    continue;
                }
                try
                {
                    await Reader.ReadDataAsync(pdu.AllocateData(pdu.DataSegmentLength), cancellationToken).ConfigureAwait(false);
                }
                catch (PduFormatException e) when (e.Recoverable)
                {
                    // RFC 7143 §7.8: a payload digest error on a non-data PDU is answered with Reject and the PDU discarded.
                    Logger.LogWarning("{Remote}: {Error} Rejecting {Pdu}.", RemoteEndPoint, e.Message, pdu.Opcode);
                    SendReject(RejectReason.DataDigestError, pdu);
                    PduPool.Return(pdu);
                    continue;
                }
                return pdu;
            }
            catch
            {
                PduPool.Return(pdu);
                throw;
            }
        }
    }

    public void BeginTask(DataTask task, Pdu command, Memory<byte> writeBuffer)
    {
        if (!task.IsWrite) return;
        var state = task.TransportState as TcpTargetTaskState ?? new TcpTargetTaskState();
        task.TransportState = state;
        state.Reset(writeBuffer, Math.Max(1, Parameters.MaxOutstandingR2T));
        int immediate = Math.Min(command.Data.Length, writeBuffer.Length);
        command.Data.Span[..immediate].CopyTo(writeBuffer.Span);
        state.UnsolicitedReceived = immediate;
        bool unsolicitedAllowed = Parameters.ImmediateData || !Parameters.InitialR2T;
        state.UnsolicitedLimit = unsolicitedAllowed ? Math.Min(Parameters.FirstBurstLength, task.ExpectedDataTransferLength) : 0;
        // F=1 on the command: no unsolicited Data-Out follows. InitialR2T=Yes: none may follow at all.
        state.UnsolicitedDone = command.Final || Parameters.InitialR2T || immediate >= state.UnsolicitedLimit;
        task.DataOutReceived = immediate;
        lock (_writeTasks) _writeTasks[task.InitiatorTaskTag] = task;
    }

    public ValueTask<bool> PutDataAsync(DataTask task, ReadOnlyMemory<byte> data, int bufferOffset, bool isLast,
        CollapsedStatus? collapsedStatus, CancellationToken cancellationToken = default)
    {
        bool collapse = isLast && collapsedStatus is not null && data.Length > 0;
        EnqueueDataIn(task, data, bufferOffset, isLast, collapse ? collapsedStatus : null, resend: null, statSN: 0);
        return ValueTask.FromResult(collapse);
    }

    public int ResendDataIn(DataTask task, ReadOnlyMemory<byte> data, uint begRun, uint runLength, CollapsedStatus? collapsedStatus, uint statSN) =>
        EnqueueDataIn(task, data, 0, isLast: true, collapsedStatus, (begRun, runLength == 0 ? uint.MaxValue : begRun + runLength), statSN);

    /// <summary>
    /// Cuts <paramref name="data"/> into Data-In PDUs: each within the initiator's MaxRecvDataSegmentLength, none across
    /// a MaxBurstLength boundary (F closes each burst). At ErrorRecoveryLevel 1 and up the PDU closing a burst that is not
    /// the last asks for a DataACK (A bit, with a transfer tag to echo). A resend emits only the DataSNs in its run, as
    /// first numbered (from 0: the core puts a task's read data in one call), with the status PDU's first StatSN.
    /// </summary>
    private int EnqueueDataIn(DataTask task, ReadOnlyMemory<byte> data, int bufferOffset, bool isLast, CollapsedStatus? status,
        (uint From, uint To)? resend, uint statSN)
    {
        int segment = Parameters.MaxXmitDataSegmentLength;
        int burst = Parameters.MaxBurstLength;
        bool askAck = Parameters.ErrorRecoveryLevel >= 1;
        var writable = MemoryMarshal.AsMemory(data);
        int sent = 0;
        uint dataSN = resend is null ? task.NextDataSN : 0;
        if (askAck && resend is null)
        {
            // One tag per burst, fixed now, so a resent Data-In carries the tag it first had.
            int bursts = (int)(((long)bufferOffset + data.Length + burst - 1) / burst);
            task.DataAckTagBase = ReserveTransferTags(bursts);
            task.DataAckTagCount = bursts;
        }
        for (int pos = 0; pos < data.Length; dataSN++)
        {
            int absolute = bufferOffset + pos;
            int burstEnd = (absolute / burst + 1) * burst;
            int len = Math.Min(Math.Min(segment, data.Length - pos), burstEnd - absolute);
            bool last = isLast && pos + len == data.Length;
            int start = pos;
            pos += len;
            if (resend is { } run && (dataSN < run.From || dataSN >= run.To)) continue;
            var pdu = PduPool.Rent();
            pdu.Opcode = IscsiOpcode.DataIn;
            bool burstClosed = absolute + len == burstEnd;
            byte flags = (byte)(last || burstClosed ? 0x80 : 0);
            uint transferTag = Pdu.ReservedTag;
            if (askAck && burstClosed && !last)
            {
                flags |= 0x40;
                transferTag = task.DataAckTagBase + (uint)(absolute / burst);
            }
            if (last && status is { } s)
            {
                flags |= 0x01;
                if (s.Overflow) flags |= 0x04;
                if (s.Underflow) flags |= 0x02;
                pdu.Bhs[3] = s.ScsiStatus;
                pdu.Field44 = s.ResidualCount;
                if (resend is null) pdu.SentNotification = task.SentNotification;
                else
                {
                    pdu.Retransmission = true;
                    pdu.Field24 = statSN;
                }
            }
            pdu.Flags = flags;
            pdu.Lun = task.Lun;
            pdu.InitiatorTaskTag = task.InitiatorTaskTag;
            pdu.Field20 = transferTag;
            pdu.Field36 = dataSN;
            pdu.Field40 = (uint)absolute;
            pdu.SetBorrowedData(writable.Slice(start, len));
            // Counted before the enqueue: once the status PDU is written the task may be reused, and is not ours to touch.
            if (resend is null) task.NextDataSN = dataSN + 1;
            sent++;
            Writer.Enqueue(pdu);
        }
        return sent;
    }

    public async ValueTask GetDataAsync(DataTask task, int length, CancellationToken cancellationToken = default)
    {
        var state = (TcpTargetTaskState)task.TransportState!;
        if (length > state.Buffer.Length) throw new ArgumentOutOfRangeException(nameof(length));
        // First let the unsolicited burst finish (DataSequenceInOrder: solicited data follows it).
        while (true)
        {
            lock (state)
            {
                if (state.Failure is not null) throw state.Failure;
                if (state.UnsolicitedDone || state.UnsolicitedReceived >= length) break;
            }
            await state.Progress.WaitAsync().ConfigureAwait(false);
        }
        int next = state.UnsolicitedReceived;
        int maxOutstanding = Math.Max(1, Parameters.MaxOutstandingR2T);
        while (true)
        {
            lock (state)
            {
                if (state.Failure is not null) throw state.Failure;
                int kept = 0;
                for (int i = 0; i < state.SlotCount; i++)
                    if (!state.Slots[i].Done) state.Slots[kept++] = state.Slots[i];
                state.SlotCount = kept;
                while (state.SlotCount < maxOutstanding && next < length)
                {
                    int len = Math.Min(Parameters.MaxBurstLength, length - next);
                    uint ttt = NextTransferTag();
                    state.Slots[state.SlotCount++] = new TcpTargetTaskState.R2TSlot
                        { TargetTransferTag = ttt, Offset = next, Length = len, R2TSN = task.NextR2TSN++, LastProgressTicks = Environment.TickCount64 };
                    SendR2T(task, ttt, next, len, state.Slots[state.SlotCount - 1].R2TSN);
                    next += len;
                }
                if (state.SlotCount == 0 && next >= length)
                {
                    task.DataOutReceived = Math.Max(task.DataOutReceived, length);
                    return;
                }
            }
            await state.Progress.WaitAsync().ConfigureAwait(false);
        }
    }

    public void EndTask(DataTask task)
    {
        if (!task.IsWrite) return;
        lock (_writeTasks)
        {
            if (_writeTasks.TryGetValue(task.InitiatorTaskTag, out var t) && ReferenceEquals(t, task))
                _writeTasks.Remove(task.InitiatorTaskTag);
        }
        if (task.TransportState is TcpTargetTaskState state)
        {
            lock (state)
            {
                state.Active = false;
                state.Failure ??= new OperationCanceledException("The task ended before its data arrived.");
            }
            state.Progress.Fault(state.Failure);
        }
    }

    private async ValueTask ReceiveDataOutAsync(Pdu header, CancellationToken ct)
    {
        uint itt = header.InitiatorTaskTag;
        uint ttt = header.Field20;
        int offset = (int)header.Field40;
        int length = header.DataSegmentLength;
        DataTask? task;
        lock (_writeTasks) _writeTasks.TryGetValue(itt, out task);
        var state = task?.TransportState as TcpTargetTaskState;
        Memory<byte> destination = default;
        int slotIndex = -1;
        string? problem = null;
        if (task is null || state is null || !state.Active)
        {
            // Data for a task that already ended (e.g. answered early or aborted): the RFC lets us drop it.
            await Reader.SkipDataAsync(length, ct).ConfigureAwait(false);
            if (ttt != Pdu.ReservedTag && task is null)
            {
                Logger.LogWarning("{Remote}: Data-Out for unknown task 0x{Itt:x8} with TTT 0x{Ttt:x8}; rejecting.", RemoteEndPoint, itt, ttt);
                SendReject(RejectReason.InvalidPduField, header);
            }
            return;
        }
        bool stale;
        lock (state) stale = state.Failure is not null || (ttt == Pdu.ReservedTag ? state.UnsolicitedAbandoned : state.IsRetired(ttt));
        if (stale)
        {
            // The rest of a sequence whose earlier PDU failed its digest: a recovery R2T asks for it again (ERL 1), or
            // the task already failed for it (ERL 0; one Reject said so).
            await Reader.SkipDataAsync(length, ct).ConfigureAwait(false);
            return;
        }
        bool gap = false; // a Data-Out ahead of where its sequence stands: the ones before it were lost
        lock (state)
        {
            if (ttt == Pdu.ReservedTag)
            {
                gap = !state.UnsolicitedDone && offset > state.UnsolicitedReceived && offset + length <= state.UnsolicitedLimit
                      && SerialNumber.GreaterThan(header.Field36, state.UnsolicitedNextDataSN);
                if (state.UnsolicitedDone || offset != state.UnsolicitedReceived || offset + length > state.UnsolicitedLimit)
                    problem = $"unsolicited Data-Out at offset {offset}+{length} outside the unsolicited burst (limit {state.UnsolicitedLimit}, received {state.UnsolicitedReceived})";
                else if (header.Field36 != state.UnsolicitedNextDataSN)
                    problem = $"unsolicited Data-Out DataSN {header.Field36} where {state.UnsolicitedNextDataSN} was expected";
                else destination = state.Buffer.Slice(offset, length);
            }
            else
            {
                for (int i = 0; i < state.SlotCount; i++)
                    if (state.Slots[i].TargetTransferTag == ttt && !state.Slots[i].Done) { slotIndex = i; break; }
                if (slotIndex < 0) problem = $"Data-Out with TTT 0x{ttt:x8} matches no outstanding R2T";
                else
                {
                    ref var slot = ref state.Slots[slotIndex];
                    gap = offset > slot.Offset + slot.Received && offset + length <= slot.Offset + slot.Length
                          && SerialNumber.GreaterThan(header.Field36, slot.NextDataSN);
                    if (offset != slot.Offset + slot.Received || offset + length > slot.Offset + slot.Length)
                        problem = $"Data-Out offset {offset}+{length} outside R2T window {slot.Offset}+{slot.Length} (expected offset {slot.Offset + slot.Received})";
                    else if (header.Field36 != slot.NextDataSN)
                        problem = $"Data-Out DataSN {header.Field36} where {slot.NextDataSN} was expected";
                    else destination = state.Buffer.Slice(offset, length);
                }
            }
        }
        if (problem is not null && gap && Parameters.ErrorRecoveryLevel >= 1)
        {
            // ERL 1: a Data-Out was lost ahead of this one; what follows is dropped and the rest asked for again.
            Logger.LogWarning("{Remote}: task 0x{Itt:x8}: {Problem}: a Data-Out was lost; asking again for the rest of the sequence.", RemoteEndPoint, itt, problem);
            await Reader.SkipDataAsync(length, ct).ConfigureAwait(false);
            RecoverSequence(task, state, ttt);
            return;
        }
        if (problem is not null)
        {
            Logger.LogWarning("{Remote}: task 0x{Itt:x8}: {Problem}; rejecting.", RemoteEndPoint, itt, problem);
            await Reader.SkipDataAsync(length, ct).ConfigureAwait(false);
            SendReject(RejectReason.ProtocolError, header);
            return;
        }
        try
        {
            await Reader.ReadDataAsync(destination, ct).ConfigureAwait(false);
        }
        catch (PduFormatException e) when (e.Recoverable)
        {
            if (Parameters.ErrorRecoveryLevel >= 1)
            {
                // RFC 7143 §7.8: at level 1 the PDU is discarded and its data asked for again with a recovery R2T.
                Logger.LogWarning("{Remote}: task 0x{Itt:x8}: {Error} Asking again for the data from offset {Offset}.", RemoteEndPoint, itt, e.Message, offset);
                RecoverSequence(task, state, ttt);
                return;
            }
            // RFC 7143 §7.8 (b): Reject the PDU and end the task with CHECK CONDITION (the core maps this failure).
            Logger.LogWarning("{Remote}: task 0x{Itt:x8}: {Error}", RemoteEndPoint, itt, e.Message);
            SendReject(RejectReason.DataDigestError, header);
            lock (state) state.Failure = new DataDigestException(e.Message);
            state.Progress.Fault(state.Failure);
            return;
        }
        lock (state)
        {
            state.LastProgressTicks = Environment.TickCount64;
            if (ttt == Pdu.ReservedTag)
            {
                state.UnsolicitedReceived += length;
                state.UnsolicitedNextDataSN++;
                if (header.Final || state.UnsolicitedReceived >= state.UnsolicitedLimit) state.UnsolicitedDone = true;
            }
            else
            {
                // GetDataAsync may have compacted the slot array while the data was read: find the slot again by its tag.
                slotIndex = -1;
                for (int i = 0; i < state.SlotCount; i++)
                    if (state.Slots[i].TargetTransferTag == ttt) { slotIndex = i; break; }
                if (slotIndex < 0) return;
                ref var slot = ref state.Slots[slotIndex];
                slot.Received += length;
                slot.NextDataSN++;
                slot.LastProgressTicks = Environment.TickCount64;
                if (header.Final || slot.Received >= slot.Length) slot.Done = true;
            }
            task.DataOutReceived += length;
        }
        state.Progress.Set();
    }

    /// <summary>A sequence that moved more recently than this is slow, not lost: a retry leaves it alone.</summary>
    private const long StallMilliseconds = 1000;

    public bool RecoverDataOut(DataTask task)
    {
        if (!task.IsWrite || task.TransportState is not TcpTargetTaskState state) return false;
        bool any = false;
        long now = Environment.TickCount64;
        lock (state)
        {
            if (!state.Active) return false;
            if (!state.UnsolicitedDone && now - state.LastProgressTicks >= StallMilliseconds)
            {
                state.UnsolicitedDone = true;
                state.UnsolicitedAbandoned = true;
                any = true;
            }
            for (int i = 0; i < state.SlotCount; i++)
            {
                if (state.Slots[i].Done || now - state.Slots[i].LastProgressTicks < StallMilliseconds) continue;
                ReissueSlotLocked(task, state, i);
                any = true;
            }
        }
        if (any) state.Progress.Set();
        return any;
    }

    /// <summary>
    /// A Data-Out of this sequence failed its digest: what arrived before it stands, the rest is asked for again. An
    /// unsolicited burst ends where it broke (Get_Data solicits the remainder); a solicited one gets a recovery R2T
    /// for the rest of its range under a new tag, and what still arrives under the old tag is dropped.
    /// </summary>
    private void RecoverSequence(DataTask task, TcpTargetTaskState state, uint ttt)
    {
        lock (state)
        {
            if (ttt == Pdu.ReservedTag)
            {
                state.UnsolicitedDone = true;
                state.UnsolicitedAbandoned = true;
            }
            else
            {
                for (int i = 0; i < state.SlotCount; i++)
                    if (state.Slots[i].TargetTransferTag == ttt && !state.Slots[i].Done) { ReissueSlotLocked(task, state, i); break; }
            }
        }
        state.Progress.Set();
    }

    private void ReissueSlotLocked(DataTask task, TcpTargetTaskState state, int index)
    {
        ref var slot = ref state.Slots[index];
        state.Retire(slot.TargetTransferTag);
        slot.TargetTransferTag = NextTransferTag();
        slot.NextDataSN = 0;
        slot.R2TSN = task.NextR2TSN++;
        slot.LastProgressTicks = Environment.TickCount64;
        SendR2T(task, slot.TargetTransferTag, slot.Offset + slot.Received, slot.Length - slot.Received, slot.R2TSN);
    }

    private uint NextTransferTag()
    {
        uint t = Interlocked.Increment(ref _nextTransferTag);
        return t == Pdu.ReservedTag ? Interlocked.Increment(ref _nextTransferTag) : t;
    }

    public int ResendR2T(DataTask task, uint begRun, uint runLength)
    {
        if (!task.IsWrite || task.TransportState is not TcpTargetTaskState state) return 0;
        uint end = runLength == 0 ? uint.MaxValue : begRun + runLength;
        int sent = 0;
        lock (state)
        {
            if (!state.Active) return 0;
            for (int i = 0; i < state.SlotCount; i++)
            {
                ref var slot = ref state.Slots[i];
                if (slot.Done || slot.R2TSN < begRun || slot.R2TSN >= end) continue;
                // The initiator answers the replica from the R2T's start: what arrived of it is taken again.
                task.DataOutReceived -= slot.Received;
                slot.Received = 0;
                slot.NextDataSN = 0;
                SendR2T(task, slot.TargetTransferTag, slot.Offset, slot.Length, slot.R2TSN);
                sent++;
            }
        }
        return sent;
    }

    /// <summary><paramref name="count"/> consecutive transfer tags, none of them the reserved 0xffffffff.</summary>
    private uint ReserveTransferTags(int count)
    {
        while (true)
        {
            uint last = Interlocked.Add(ref _nextTransferTag, (uint)count);
            uint first = last - (uint)count + 1;
            if (Pdu.ReservedTag - first >= (uint)count) return first;
        }
    }

    private void SendR2T(DataTask task, uint ttt, int offset, int length, uint r2tSN)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.ReadyToTransfer;
        pdu.Flags = 0x80;
        pdu.Lun = task.Lun;
        pdu.InitiatorTaskTag = task.InitiatorTaskTag;
        pdu.Field20 = ttt;
        pdu.Field36 = r2tSN;
        pdu.Field40 = (uint)offset;
        pdu.Field44 = (uint)length;
        Writer.Enqueue(pdu);
    }

    private void SendReject(RejectReason reason, Pdu offending)
    {
        try { Writer.Enqueue(RejectPdu.Rent(reason, offending)); }
        catch (DatamoverException) { }
    }

    private protected override void OnTerminating(Exception reason)
    {
        DataTask[] tasks;
        lock (_writeTasks)
        {
            tasks = [.. _writeTasks.Values];
            _writeTasks.Clear();
        }
        foreach (var task in tasks)
        {
            if (task.TransportState is not TcpTargetTaskState state) continue;
            lock (state) state.Failure ??= reason;
            state.Progress.Fault(state.Failure);
        }
    }
}

