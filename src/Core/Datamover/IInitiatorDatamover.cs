using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Datamover;

/// <summary>Initiator side of the datamover.</summary>
public interface IInitiatorDatamover : IDatamoverConnection
{
    /// <summary>
    /// Send a SCSI Command with its buffers. TCP sends immediate data and unsolicited Data-Out, then answers R2Ts
    /// and places Data-In into <paramref name="readBuffer"/> itself (still forwarding their headers to the core
    /// for sequence numbers and status); iSER registers the buffers and advertises STags.
    /// </summary>
    ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
        CancellationToken cancellationToken = default);

    /// <summary>Deallocate_Task_Resources: the command completed or was aborted; drop its buffers.</summary>
    void EndTask(DataTask task);

    /// <summary>
    /// ErrorRecoveryLevel 1: sends the command again as a retry (RFC 7143 §6.2.1: same ITT, CmdSN and CDB, the
    /// <paramref name="command"/> marked as a retransmission) with its immediate data but no unsolicited Data-Out (F=1;
    /// the target asks by R2T for what it lacks); read data the target resends is placed again from the last DataACK.
    /// False when this transport does not retry (the core then aborts the command instead).
    /// </summary>
    ValueTask<bool> RetryCommandAsync(DataTask task, Pdu command) => ValueTask.FromResult(false);

    /// <summary>
    /// ErrorRecoveryLevel 2: takes over a command sent on a connection that failed, without sending it: its Data-In
    /// and R2Ts are handled here from now on (read data placed from DataSN 0 again), once TASK REASSIGN moved it. False
    /// when this transport cannot (the core then ends the command as at level 0).
    /// </summary>
    bool AdoptTask(DataTask task, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer) => false;

    /// <summary>
    /// True when this datamover calls <see cref="IPduReceiver.OnReceiveIdle"/> each time it has delivered what it read
    /// and is about to wait. A wrapper that does not forward that call must leave this false, or work held back for it
    /// would wait for ever.
    /// </summary>
    bool ReportsReceiveIdle => false;

    /// <summary>
    /// True when the idle moments of <see cref="ReportsReceiveIdle"/> come after a bounded amount of work however busy
    /// the link is (iSER: the CQ poller reports idle at the latest after its per-wake-up budget of completions). False
    /// when a steady stream can keep the reader from ever going idle (a TCP socket that never drains): the core then
    /// also publishes results held longer than <see cref="Iscsi.Initiator.CompletionLane.MaxHoldMicroseconds"/>
    /// without waiting for idle, a rule that on a slow machine would cut every batch short where it is not needed.
    /// </summary>
    bool ReceiveIdleIsBounded => false;

    /// <summary>
    /// Until <see cref="EndSendBatch"/>, PDUs this thread sends may be held so they leave together (one system call, one
    /// doorbell). Calls pair, on the same thread; the core uses them around a run of completions whose continuations
    /// may each send a command.
    /// </summary>
    void BeginSendBatch() { }

    /// <summary>Ends <see cref="BeginSendBatch"/>: what this thread sent meanwhile leaves now.</summary>
    void EndSendBatch() { }

    /// <summary>
    /// Sends what any thread holds in a batch now; safe from any thread. For a batch whose thread is stuck (a caller's
    /// continuation blocked inside it): its held PDUs must not wait for it.
    /// </summary>
    void FlushSends() { }
}
