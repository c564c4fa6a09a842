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
        if (connection.NoteTargetPdu(pdu) is { } lost)
        {
            _logger.LogWarning("{Portal}: StatSN {StatSN} arrived where {Expected} was expected; asking for the status in between again",
                Portal, pdu.Field24, lost.BegRun);
            SendSnack(connection, SnackType.Status, Pdu.ReservedTag, 0, lost.BegRun, lost.RunLength, Pdu.ReservedTag);
        }
        _dispatcher.Dispatch(connection, pdu);
    }

    /// <summary>The datamover delivers nothing more: recovery (a login) runs on the thread pool, never on its thread.</summary>
    internal void OnReceiveEnded(InitiatorConnection connection, Exception? error)
    {
        error ??= new IscsiConnectionException($"The target at {Portal} closed the connection.");
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.session.OnConnectionLostAsync(s.connection, s.error),
            (session: this, connection, error), preferLocal: false);
    }

    /// <summary>
    /// A SNACK Request (RFC 7143 §11.16), ErrorRecoveryLevel 1: asks the target to send again the Data-In (or R2T)
    /// numbered [<paramref name="begRun"/>, begRun + <paramref name="runLength"/>) of a task, the statuses numbered so
    /// (Status), or acknowledges read data below begRun (DataACK, echoing the Data-In's transfer tag).
    /// </summary>
    internal void SendSnack(InitiatorConnection connection, SnackType type, uint itt, ulong lun, uint begRun, uint runLength, uint transferTag)
    {
        var pdu = PduPool.Rent();
        pdu.Opcode = IscsiOpcode.SnackRequest;
        pdu.Flags = (byte)(0x80 | (byte)type);
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = itt;
        pdu.Field20 = transferTag;
        pdu.Field40 = begRun;
        pdu.Field44 = runLength;
        Interlocked.Increment(ref _snacksSent);
        TrySend(connection, pdu, $"{type} SNACK");
    }

    internal void TrySend(InitiatorConnection connection, Pdu pdu, string what)
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
