using System.Buffers.Binary;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Sessions;
using Iser.Core.Scsi;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Initiator;

public sealed partial class IscsiSession
{
    /// <summary>A PDU pushed by the connection's datamover, on its completion thread (see <see cref="ConnectionReceiver"/>).</summary>
    internal void OnPduReceived(InitiatorConnection connection, Pdu pdu)
    {
        Volatile.Write(ref connection.LastReceiveTicks, Environment.TickCount64);
        if (_pduLogger.IsEnabled(LogLevel.Trace))
            _pduLogger.LogTrace("<- {Pdu} StatSN={StatSN} ExpCmdSN={ExpCmdSN} MaxCmdSN={MaxCmdSN}", pdu, pdu.Field24, pdu.Field28, pdu.Field32);
        connection.NoteTargetPdu(pdu);
        Dispatch(connection, pdu);
    }

    /// <summary>The datamover delivers nothing more: recovery (a login) runs on the thread pool, never on its thread.</summary>
    internal void OnReceiveEnded(InitiatorConnection connection, Exception? error)
    {
        error ??= new IscsiConnectionException($"The target at {Portal} closed the connection.");
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.session.OnConnectionLostAsync(s.connection, s.error),
            (session: this, connection, error), preferLocal: false);
    }

    /// <summary>Routes one target PDU by opcode and ITT; returns it to the pool unless a waiter took it.</summary>
    private void Dispatch(InitiatorConnection connection, Pdu pdu)
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
                    _logger.LogWarning("{Portal}: unexpected {Opcode} PDU ignored", Portal, pdu.Opcode);
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
        lock (_gate)
        {
            if (!_tasks.TryGetValue(itt, out task))
            {
                _logger.LogDebug("{Portal}: SCSI Response for unknown task 0x{Itt:x8} ignored", Portal, itt);
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
        lock (_gate)
        {
            if (!_tasks.TryGetValue(itt, out task)) return;
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
            TrySend(connection, reply, "NOP-Out answering the target's ping");
            return false;
        }
        if (itt == Pdu.ReservedTag || itt == KeepAliveTag) return false;
        return CompleteExchange(pdu);
    }

    private bool CompleteExchange(Pdu pdu)
    {
        TaskCompletionSource<Pdu>? waiter;
        lock (_gate) _exchanges.Remove(pdu.InitiatorTaskTag, out waiter);
        if (waiter is null)
        {
            _logger.LogDebug("{Portal}: {Opcode} for 0x{Itt:x8} arrived after its requester gave up", Portal, pdu.Opcode, pdu.InitiatorTaskTag);
            return false;
        }
        return waiter.TrySetResult(pdu);
    }

    private void OnReject(Pdu pdu)
    {
        var reason = (RejectReason)pdu.Bhs[2];
        if (pdu.Data.Length < Pdu.BhsLength)
        {
            _logger.LogWarning("{Portal}: {Reason} (The Reject did not quote the rejected header.)", Portal, reason.Describe());
            return;
        }
        var rejected = pdu.Data.Span;
        var opcode = (IscsiOpcode)(rejected[0] & 0x3f);
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(rejected[16..]);
        var error = new IscsiRejectException(reason,
            $"{reason.Describe()} (rejected: {opcode} PDU, ITT 0x{itt:x8}, reason 0x{(byte)reason:x2})");
        _logger.LogWarning("{Portal}: {Message}", Portal, error.Message);
        TaskCompletionSource<Pdu>? waiter;
        lock (_gate)
        {
            if (_tasks.TryGetValue(itt, out var task)) task.TryFail(error);
            _exchanges.Remove(itt, out waiter);
        }
        waiter?.TrySetException(error);
    }

    private void OnAsyncMessage(Pdu pdu)
    {
        var asyncEvent = (AsyncEvent)pdu.Bhs[36];
        int parameter3 = BinaryPrimitives.ReadUInt16BigEndian(pdu.Bhs.AsSpan(42));
        switch (asyncEvent)
        {
            case AsyncEvent.ScsiAsyncEvent:
                string sense = pdu.Data.Length > 2 && SenseData.TryParse(pdu.Data.Span[2..], out var decoded) ? decoded.Describe() : "no sense data";
                _logger.LogInformation("{Portal}: SCSI asynchronous event on LUN {Lun}: {Sense}", Portal, LunAddressing.Decode(pdu.Lun), sense);
                break;
            case AsyncEvent.LogoutRequested:
                _logger.LogInformation("{Portal}: the target requests logout within {Seconds} s; logging out", Portal, parameter3);
                _ = LogoutAsync(reason: "The session was logged out at the target's request.");
                break;
            default:
                _logger.LogWarning("{Portal}: {Event}", Portal, asyncEvent.Describe());
                break;
        }
    }

    private void TrySend(InitiatorConnection connection, Pdu pdu, string what)
    {
        try
        {
            var pending = connection.Datamover.SendControlAsync(pdu);
            if (!pending.IsCompletedSuccessfully) _ = ObserveAsync(pending, what);
        }
        catch (DatamoverException e)
        {
            _logger.LogDebug("{Portal}: {What} not sent: {Error}", Portal, what, e.Message);
        }
    }

    private async Task ObserveAsync(ValueTask pending, string what)
    {
        try { await pending.ConfigureAwait(false); }
        catch (Exception e) { _logger.LogDebug("{Portal}: {What} not sent: {Error}", Portal, what, e.Message); }
    }
}
