using System.Buffers.Binary;
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
                    if ((pdu.Flags & 0x01) != 0 || pdu.Context is Exception) OnDataIn(connection, pdu);
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
                    OnReject(pdu);
                    break;
                case IscsiOpcode.AsyncMessage:
                    OnAsyncMessage(pdu);
                    break;
                default:
                    _logger.LogWarning("{_session.Portal}: unexpected {Opcode} PDU ignored", _session.Portal, pdu.Opcode);
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
        ScsiResponse response;
        lock (_table.Gate)
        {
            if (!_table.TryGetLocked(itt, out task))
            {
                _logger.LogDebug("{_session.Portal}: SCSI Response for unknown task 0x{Itt:x8} ignored", _session.Portal, itt);
                return;
            }
            if (pdu.Context is Exception digest)
            {
                task.TryFail(new IscsiException($"The SCSI Response for task 0x{itt:x8} failed its data digest: {digest.Message}"));
                return;
            }
            var responseCode = (ScsiResponseCode)pdu.Bhs[2];
            if (responseCode != ScsiResponseCode.CommandCompletedAtTarget)
            {
                task.TryFail(new IscsiException(responseCode.Describe()));
                return;
            }
            // With ErrorRecoveryLevel 0 a lost Data-In cannot be fetched again; ExpDataSN tells us whether trailing ones
            // were lost. Only a count above what arrived is trusted: tgtd, for one, leaves the field at zero.
            if (task.IsRead && !connection.Datamover.PlacesDataDirectly && SerialNumber.GreaterThan(pdu.Field36, task.NextDataSN))
            {
                task.TryFail(new IscsiException($"The target sent {pdu.Field36} Data-In PDUs for task 0x{itt:x8} but {task.NextDataSN} arrived."));
                return;
            }
            if (!TryClaimLocked(task, (ScsiStatus)pdu.Bhs[3], pdu.Flags, pdu.Field44, SenseOf(pdu), out response)) return;
        }
        task.Publish(response);
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
        ScsiResponse response;
        lock (_table.Gate)
        {
            if (!_table.TryGetLocked(itt, out task)) return;
            if (pdu.Context is Exception digest) task.DataError ??= digest;
            if ((pdu.Flags & 0x01) == 0) return;
            if (!TryClaimLocked(task, (ScsiStatus)pdu.Bhs[3], pdu.Flags, pdu.Field44, default, out response)) return;
        }
        task.Publish(response);
    }

    /// <summary>
    /// Under _gate: the command's status arrived. Fails it (data digest error) or claims its completion and returns the
    /// response, which the caller publishes once the lock is released. False when there is nothing to publish.
    /// </summary>
    private static bool TryClaimLocked(InitiatorTask task, ScsiStatus status, byte flags, uint residual, ReadOnlyMemory<byte> sense,
        out ScsiResponse response)
    {
        response = default;
        if (task.DataError is { } error)
        {
            task.TryFail(new IscsiException($"Read data for task 0x{task.InitiatorTaskTag:x8} failed its data digest; it cannot be trusted: {error.Message}"));
            return false;
        }
        if (!task.TryClaim()) return false;
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

    private void OnReject(Pdu pdu)
    {
        var reason = (RejectReason)pdu.Bhs[2];
        if (pdu.Data.Length < Pdu.BhsLength)
        {
            _logger.LogWarning("{_session.Portal}: {Reason} (The Reject did not quote the rejected header.)", _session.Portal, reason.Describe());
            return;
        }
        var rejected = pdu.Data.Span;
        var opcode = (IscsiOpcode)(rejected[0] & 0x3f);
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(rejected[16..]);
        var error = new IscsiRejectException(reason,
            $"{reason.Describe()} (rejected: {opcode} PDU, ITT 0x{itt:x8}, reason 0x{(byte)reason:x2})");
        _logger.LogWarning("{_session.Portal}: {Message}", _session.Portal, error.Message);
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
                _logger.LogInformation("{_session.Portal}: SCSI asynchronous event on LUN {Lun}: {Sense}", _session.Portal, LunAddressing.Decode(pdu.Lun), sense);
                break;
            case AsyncEvent.LogoutRequested:
                _logger.LogInformation("{_session.Portal}: the target requests logout within {Seconds} s; logging out", _session.Portal, parameter3);
                _ = _session.LogoutAsync(reason: "The session was logged out at the target's request.");
                break;
            default:
                _logger.LogWarning("{_session.Portal}: {Event}", _session.Portal, asyncEvent.Describe());
                break;
        }
    }
}
