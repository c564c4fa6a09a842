using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Datamover;

/// <summary>Target side of the datamover: moves a command's data to and from the initiator.</summary>
public interface ITargetDatamover : IDatamoverConnection
{
    /// <summary>
    /// Allocate_Connection_Resources for one task, called when the core accepts a SCSI Command, before it reads the
    /// next PDU. TCP takes the command's immediate data and starts collecting unsolicited Data-Out into
    /// <paramref name="writeBuffer"/>; iSER records the initiator's advertised STags.
    /// </summary>
    void BeginTask(DataTask task, Pdu command, Memory<byte> writeBuffer);

    /// <summary>
    /// Put_Data: deliver <paramref name="data"/> to the initiator's buffer at <paramref name="bufferOffset"/>.
    /// When <paramref name="isLast"/> and <paramref name="collapsedStatus"/> is non-null the datamover may carry the
    /// status in the final Data-In (phase collapse) and returns true; otherwise the core sends a SCSI Response.
    /// </summary>
    ValueTask<bool> PutDataAsync(DataTask task, ReadOnlyMemory<byte> data, int bufferOffset, bool isLast,
        CollapsedStatus? collapsedStatus, CancellationToken cancellationToken = default);

    /// <summary>
    /// Get_Data: make the first <paramref name="length"/> bytes of the task's write buffer valid (waiting for
    /// unsolicited data, soliciting the rest with R2T on TCP, RDMA READ on iSER).
    /// </summary>
    ValueTask GetDataAsync(DataTask task, int length, CancellationToken cancellationToken = default);

    /// <summary>Deallocate_Task_Resources: the task is done (or aborted); stop waiting for its data.</summary>
    void EndTask(DataTask task);

    /// <summary>
    /// A buffer of at least <paramref name="length"/> bytes for the task's read data that Put_Data can send without
    /// copying it (registered memory on iSER), or empty when the datamover has none to lend (TCP; a transfer larger
    /// than one buffer; none free at this moment). Asking again returns the same buffer. It stays the datamover's:
    /// the core hands it back with <see cref="ReturnDataInBuffer"/> once the task is over and nothing (the backing store
    /// included) still writes into it.
    /// </summary>
    Memory<byte> LendDataInBuffer(DataTask task, int length) => Memory<byte>.Empty;

    /// <summary>The task is over: a buffer from <see cref="LendDataInBuffer"/> that Put_Data did not take goes back.</summary>
    void ReturnDataInBuffer(DataTask task) { }

    /// <summary>
    /// ErrorRecoveryLevel 1 (RFC 7143 §11.16): sends again the Data-In PDUs numbered [<paramref name="begRun"/>,
    /// begRun + <paramref name="runLength"/>) (a run length of 0: through the last) of a task whose read data the core
    /// kept, exactly as first sent by one Put_Data of <paramref name="data"/> at offset 0: same DataSN, offsets and flags.
    /// The one that carried the status carries it again with its first StatSN, <paramref name="statSN"/>.
    /// Returns how many PDUs went out; 0 when the run names none, or -1 when this transport never resends
    /// (iSER: RDMA placement is reliable and RFC 7145 has no Data SNACK).
    /// </summary>
    int ResendDataIn(DataTask task, ReadOnlyMemory<byte> data, uint begRun, uint runLength, CollapsedStatus? collapsedStatus, uint statSN) => -1;

    /// <summary>
    /// ErrorRecoveryLevel 1: asks again (recovery R2T) for the write data a task still lacks: the rest of every R2T
    /// not yet satisfied, under a new Target Transfer Tag (data still arriving under the old one is dropped). Used for
    /// a retried command and an R2T SNACK. False when nothing is missing or this transport does not solicit data.
    /// </summary>
    bool RecoverDataOut(DataTask task) => false;

    /// <summary>
    /// ErrorRecoveryLevel 1, an R2T SNACK: sends again, as first sent (same tag, R2TSN, offset and length), the R2Ts
    /// numbered [<paramref name="begRun"/>, begRun + <paramref name="runLength"/>) (0: through the last) still waiting
    /// for data; their sequences start over. Returns how many went out (0 when none matches or this transport has none).
    /// </summary>
    int ResendR2T(DataTask task, uint begRun, uint runLength) => 0;
}

/// <summary>Status carried in the last Data-In PDU (S bit) when phase collapse is possible (GOOD status, no sense).</summary>
public readonly record struct CollapsedStatus(byte ScsiStatus, bool Underflow, bool Overflow, uint ResidualCount);
