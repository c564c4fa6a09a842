using System.Buffers.Binary;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Iser.Core.Scsi;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// The initiator's receive path: every PDU the target sends in full feature phase, routed by opcode and ITT to the
/// command or exchange it answers, on the thread that received it (see <see cref="ConnectionReceiver"/>). A command's
/// completion is claimed under the task table's lock and published after it, so a caller's inline continuation
/// never runs under that lock. Target pings are answered here; everything else ends in the task table.
/// </summary>
internal sealed class TargetPduDispatcher(IscsiSession session, InitiatorTaskTable table, ILogger logger)
{
    private readonly IscsiSession _session = session;
    private readonly InitiatorTaskTable _table = table;
    private readonly ILogger _logger = logger;
    private int _targetPingsAnswered;

    /// <summary>NOP-In pings from the target (TTT set) answered so far.</summary>
    public int TargetPingsAnswered => Volatile.Read(ref _targetPingsAnswered);

    /// <summary>Routes one target PDU by opcode and ITT; returns it to the pool unless a waiter took it.</summary>
    public void Dispatch(InitiatorConnection connection, Pdu pdu)
    {
        bool keep = false;
        try
        {
            switch (pdu.Opcode)
            {
                case IscsiOpcode.ScsiResponse:
                    OnScsiResponse(connection, pdu);
                    break;
                case IscsiOpcode.DataIn:
                    // At level 0 only a status or a digest error matters here; at 1 every Data-In may fill a hole or ask a DataACK.
                    if ((pdu.Flags & 0x01) != 0 || pdu.Context is not null || connection.ErrorRecoveryLevel >= 1) OnDataIn(connection, pdu);
                    break;
                case IscsiOpcode.ReadyToTransfer:
                    break; // the datamover answered it; the core only needed its sequence numbers
                case IscsiOpcode.NopIn:
                    keep = OnNopIn(connection, pdu);
                    break;
                case IscsiOpcode.TextResponse:
                case IscsiOpcode.TaskManagementResponse:
                case IscsiOpcode.LogoutResponse:
                    keep = CompleteExchange(pdu);
                    break;
                case IscsiOpcode.Reject:
                    OnReject(connection, pdu);
                    break;
                case IscsiOpcode.AsyncMessage:
                    OnAsyncMessage(pdu);
                    break;
                default:
                    _logger.LogWarning("{Portal}: unexpected {Opcode} PDU ignored", _session.Portal, pdu.Opcode);
                    break;
            }
        }
        finally
        {
            if (!keep) PduPool.Return(pdu);
        }
    }

    private void OnScsiResponse(InitiatorConnection connection, Pdu pdu)
    {
        uint itt = pdu.InitiatorTaskTag;
        InitiatorTask? task;
        ScsiResponse response = default;
        bool recover = connection.ErrorRecoveryLevel >= 1;
        (uint From, uint Count)? askData = null;
        lock (_table.Gate)
        {
            if (!_table.TryGetLocked(itt, out task))
            {
                _logger.LogDebug("{Portal}: SCSI Response for unknown task 0x{Itt:x8} ignored", _session.Portal, itt);
                return;
            }
            if (pdu.Context is Exception digest)
            {
                if (!recover)
                {
                    task.TryFail(new IscsiException($"The SCSI Response for task 0x{itt:x8} failed its data digest: {digest.Message}"));
                    return;
                }
                task = null; // asked for again below, outside the lock
            }
            else
            {
                var responseCode = (ScsiResponseCode)pdu.Bhs[2];
                if (responseCode != ScsiResponseCode.CommandCompletedAtTarget)
                {
                    task.TryFail(new IscsiException(responseCode.Describe()));
                    return;
                }
                // ExpDataSN tells whether trailing Data-In were lost. Only a count above what arrived is trusted: tgtd, for one,
                // leaves the field at zero. At level 0 they cannot be fetched again; at 1 they are asked for and the status waits.
                bool trailingLost = task.IsRead && !connection.Datamover.PlacesDataDirectly && SerialNumber.GreaterThan(pdu.Field36, task.NextDataSN);
                if (trailingLost && !recover)
                {
                    task.TryFail(new IscsiException($"The target sent {pdu.Field36} Data-In PDUs for task 0x{itt:x8} but {task.NextDataSN} arrived."));
                    return;
                }
                if (trailingLost)
                {
                    askData = (task.NextDataSN, pdu.Field36 - task.NextDataSN);
                    task.ExpectedDataSN = pdu.Field36;
                }
                if (!TryClaimOrHoldLocked(connection, task, pdu, SenseOf(pdu), out response)) task = null;
            }
        }
        if (pdu.Context is Exception corrupt)
        {
            _logger.LogWarning("{Portal}: the SCSI Response for task 0x{Itt:x8} (StatSN {StatSN}) failed its data digest; asking for it again", _session.Portal, itt, pdu.Field24);
            _session.SendSnack(connection, SnackType.Status, Pdu.ReservedTag, 0, pdu.Field24, 1, Pdu.ReservedTag);
            return;
        }
        if (askData is { } run)
        {
            _logger.LogWarning("{Portal}: task 0x{Itt:x8}: the status says {Sent} Data-In were sent but {Arrived} arrived; asking for the rest",
                _session.Portal, itt, pdu.Field36, run.From);
            _session.SendSnack(connection, SnackType.DataR2T, itt, pdu.Lun, run.From, run.Count, Pdu.ReservedTag);
        }
        if (task is not null) Complete(connection, task, response);
    }

    /// <summary>Publishes a claimed command's result through the connection's receiver (which may batch thread-pool completions).</summary>
    private static void Complete(InitiatorConnection connection, InitiatorTask task, in ScsiResponse response)
    {
        if (connection.Receiver is { } receiver) receiver.Complete(task, response);
        else task.Publish(response);
    }

    private static ReadOnlyMemory<byte> SenseOf(Pdu pdu)
    {
        if (pdu.Data.Length < 2) return default;
        int senseLength = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(pdu.Data.Span), pdu.Data.Length - 2);
        return senseLength > 0 ? pdu.Data.Span.Slice(2, senseLength).ToArray() : default;
    }

    private void OnDataIn(InitiatorConnection connection, Pdu pdu)
    {
        uint itt = pdu.InitiatorTaskTag;
        InitiatorTask? task;
        ScsiResponse response = default;
        bool publish = false, dataAck = false;
        var gap = pdu.Context as DataInGap;
        lock (_table.Gate)
        {
            if (!_table.TryGetLocked(itt, out task)) return;
            if (pdu.Context is Exception digest) task.DataError ??= digest;
            if ((pdu.Flags & 0x01) != 0)
                publish = TryClaimOrHoldLocked(connection, task, pdu, default, out response);
            else if (task.HoldsStatus && DataWholeLocked(task))
            {
                // The last missing Data-In arrived: the status that waited for it goes out now, and may be acknowledged.
                task.HoldsStatus = false;
                task.HeldOn?.ReleaseStatus(task.HeldStatSN);
                task.HeldOn = null;
                response = task.HeldStatus;
                publish = task.TryClaim();
            }
            // RFC 7143 §11.16.1: DataACK only once no hole is left below it.
            if ((pdu.Flags & 0x40) != 0 && gap is null && task.MissingDataIn == 0)
            {
                dataAck = true;
                task.DataAckedBelow = pdu.Field36 + 1;
            }
        }
        if (gap is not null)
        {
            _logger.LogWarning("{Portal}: task 0x{Itt:x8}: {Reason}; asking for DataSN {From}..{To} again", _session.Portal, itt, gap.Reason,
                gap.BegRun, gap.BegRun + gap.RunLength - 1);
            _session.SendSnack(connection, SnackType.DataR2T, itt, pdu.Lun, gap.BegRun, gap.RunLength, Pdu.ReservedTag);
        }
        if (dataAck) _session.SendSnack(connection, SnackType.DataAck, Pdu.ReservedTag, pdu.Lun, pdu.Field36 + 1, 0, pdu.Field20);
        if (publish) Complete(connection, task, response);
    }

    /// <summary>Under _gate: every Data-In the target sent for the task has arrived intact.</summary>
    private static bool DataWholeLocked(InitiatorTask task) =>
        Volatile.Read(ref task.MissingDataIn) == 0 && !SerialNumber.GreaterThan(task.ExpectedDataSN, task.NextDataSN);

    /// <summary>
    /// Under _gate, at the command's status: claims it (see <see cref="TryClaimLocked"/>), or at ERL 1 while read data
    /// is still missing keeps it on the task until the last hole is filled. False when there is nothing to publish now.
    /// </summary>
    private static bool TryClaimOrHoldLocked(InitiatorConnection connection, InitiatorTask task, Pdu status, ReadOnlyMemory<byte> sense,
        out ScsiResponse response)
    {
        var scsiStatus = (ScsiStatus)status.Bhs[3];
        if (task.IsRead && task.DataError is null && !task.HoldsStatus && !DataWholeLocked(task))
        {
            if (!TryClaimLocked(task, scsiStatus, status.Flags, status.Field44, sense, out var held, claim: false)) { response = default; return false; }
            task.HeldStatus = held;
            task.HeldStatSN = status.Field24;
            task.HeldOn = connection;
            task.HoldsStatus = true;
            connection.HoldStatus(status.Field24);
            response = default;
            return false;
        }
        return TryClaimLocked(task, scsiStatus, status.Flags, status.Field44, sense, out response);
    }

    /// <summary>
    /// Under _gate: the command's status arrived. Fails it (data digest error) or claims its completion and returns the
    /// response, which the caller publishes once the lock is released. False when there is nothing to publish.
    /// </summary>
    private static bool TryClaimLocked(InitiatorTask task, ScsiStatus status, byte flags, uint residual, ReadOnlyMemory<byte> sense,
        out ScsiResponse response, bool claim = true)
    {
        response = default;
        if (task.DataError is { } error)
        {
            task.TryFail(new IscsiException($"Read data for task 0x{task.InitiatorTaskTag:x8} failed its data digest; it cannot be trusted: {error.Message}"));
            return false;
        }
        if (claim ? !task.TryClaim() : task.IsCompleted) return false;
        bool overflow = (flags & 0x04) != 0, underflow = (flags & 0x02) != 0;
        int expected = task.ExpectedDataTransferLength;
        int residualCount = (int)Math.Min(residual, int.MaxValue);
        int transferred = underflow ? Math.Max(0, expected - residualCount) : expected;
        response = new ScsiResponse
        {
            Status = status,
            SenseData = sense,
            ResidualOverflow = overflow,
            ResidualUnderflow = underflow,
            ResidualCount = overflow || underflow ? residualCount : 0,
            TransferredLength = transferred,
        };
        return true;
    }

    /// <returns>True when a waiter took ownership of the PDU.</returns>
    private bool OnNopIn(InitiatorConnection connection, Pdu pdu)
    {
        uint itt = pdu.InitiatorTaskTag, ttt = pdu.Field20;
        if (ttt != Pdu.ReservedTag)
        {
            // The target pings us (RFC 7143 §11.19): answer at once with a NOP-Out echoing its TTT, as an immediate
            // PDU with ITT 0xffffffff, so it neither takes a CmdSN nor expects a reply.
            var reply = PduPool.Rent();
            reply.Opcode = IscsiOpcode.NopOut;
            reply.Immediate = true;
            reply.Final = true;
            reply.Lun = pdu.Lun;
            reply.InitiatorTaskTag = Pdu.ReservedTag;
            reply.Field20 = ttt;
            // Counted before the send, so whoever sees the echo on the wire also sees it counted.
            Interlocked.Increment(ref _targetPingsAnswered);
            _session.TrySend(connection, reply, "NOP-Out answering the target's ping");
            return false;
        }
        if (itt == Pdu.ReservedTag || itt == InitiatorTaskTable.KeepAliveTag) return false;
        return CompleteExchange(pdu);
    }

    private bool CompleteExchange(Pdu pdu)
    {
        var waiter = _table.TakeExchange(pdu.InitiatorTaskTag);
        if (waiter is null)
        {
            _logger.LogDebug("{Portal}: {Opcode} for 0x{Itt:x8} arrived after its requester gave up", _session.Portal, pdu.Opcode, pdu.InitiatorTaskTag);
            return false;
        }
        return waiter.TrySetResult(pdu);
    }

    private void OnReject(InitiatorConnection connection, Pdu pdu)
    {
        var reason = (RejectReason)pdu.Bhs[2];
        if (pdu.Data.Length < Pdu.BhsLength)
        {
            _logger.LogWarning("{Portal}: {Reason} (The Reject did not quote the rejected header.)", _session.Portal, reason.Describe());
            return;
        }
        var rejected = pdu.Data.Span;
        var opcode = (IscsiOpcode)(rejected[0] & 0x3f);
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(rejected[16..]);
        var error = new IscsiRejectException(reason,
            $"{reason.Describe()} (rejected: {opcode} PDU, ITT 0x{itt:x8}, reason 0x{(byte)reason:x2})");
        _logger.LogWarning("{Portal}: {Message}", _session.Portal, error.Message);
        if (connection.ErrorRecoveryLevel >= 1 && reason == RejectReason.DataDigestError)
        {
            // RFC 7143 §7.8: at level 1 a command discarded for its payload digest is retried; a Data-Out discarded
            // for it is asked for again by the target (recovery R2T). Neither fails the command.
            if (opcode == IscsiOpcode.ScsiCommand) _session.Retry(itt, "the target discarded it for a data digest error");
            if (opcode is IscsiOpcode.ScsiCommand or IscsiOpcode.DataOut) return;
        }
        lock (_table.Gate)
        {
            if (_table.TryGetLocked(itt, out var task)) task.TryFail(error);
        }
        _table.TakeExchange(itt)?.TrySetException(error);
    }

    private void OnAsyncMessage(Pdu pdu)
    {
        var asyncEvent = (AsyncEvent)pdu.Bhs[36];
        int parameter3 = BinaryPrimitives.ReadUInt16BigEndian(pdu.Bhs.AsSpan(42));
        switch (asyncEvent)
        {
            case AsyncEvent.ScsiAsyncEvent:
                string sense = pdu.Data.Length > 2 && SenseData.TryParse(pdu.Data.Span[2..], out var decoded) ? decoded.Describe() : "no sense data";
                _logger.LogInformation("{Portal}: SCSI asynchronous event on LUN {Lun}: {Sense}", _session.Portal, LunAddressing.Decode(pdu.Lun), sense);
                break;
            case AsyncEvent.LogoutRequested:
                _logger.LogInformation("{Portal}: the target requests logout within {Seconds} s; logging out", _session.Portal, parameter3);
                _ = _session.LogoutAsync(reason: "The session was logged out at the target's request.");
                break;
            default:
                _logger.LogWarning("{Portal}: {Event}", _session.Portal, asyncEvent.Describe());
                break;
        }
    }
}
