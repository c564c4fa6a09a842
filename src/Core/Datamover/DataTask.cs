namespace Iser.Core.Datamover;

/// <summary>
/// Per-command state shared by the core and the datamover. The core fills the identity and lengths;
/// the datamover keeps its own sequencing (DataSN, R2TSN, offsets) in the transport fields.
/// One instance per outstanding command; pooled by the owner, so no per-I/O allocation.
/// </summary>
public class DataTask
{
    public uint InitiatorTaskTag;
    public ulong Lun;
    public uint CmdSN;
    public int ExpectedDataTransferLength;
    /// <summary>Bidirectional commands: expected read length from the AHS.</summary>
    public int ExpectedBidiReadLength;
    public bool IsRead;
    public bool IsWrite;
    /// <summary>Bytes the initiator will take: the bidirectional read length, else the Expected Data Transfer Length.</summary>
    public int ExpectedDataInLength => IsRead ? (IsWrite ? ExpectedBidiReadLength : ExpectedDataTransferLength) : 0;
    /// <summary>Bytes the initiator will send.</summary>
    public int ExpectedDataOutLength => IsWrite ? ExpectedDataTransferLength : 0;

    // --- Transport-owned sequencing (TCP: DataSN, R2TSN, next offset; iSER: unused) ---
    public uint NextDataSN;
    public uint NextR2TSN;
    /// <summary>Bytes of write data that have arrived (immediate + unsolicited + solicited), TCP target side.</summary>
    public int DataOutReceived;
    /// <summary>
    /// Target, ERL 1: the transfer tags the task's DataACK requests carry (A bit): [base, base + count), one per burst,
    /// so a resent Data-In carries the tag it first had, and a DataACK (whose ITT is reserved) finds its task.
    /// </summary>
    public uint DataAckTagBase;
    public int DataAckTagCount;
    /// <summary>DataSN below which the initiator acknowledged the read data (DataACK SNACK, ERL 1).</summary>
    public uint DataAckedBelow;
    /// <summary>ERL 1, initiator: Data-In PDUs known lost or corrupt and asked for again, not yet arrived (the datamover counts).</summary>
    public int MissingDataIn;
    /// <summary>Free slot for a transport's per-task state (reused across commands, never per-I/O allocated).</summary>
    public object? TransportState;
    /// <summary>Told when the final PDU of this task (response, or Data-In carrying status) has been written.</summary>
    public Iser.Core.Iscsi.Pdus.IPduSentNotification? SentNotification;

    public virtual void ResetForReuse()
    {
        InitiatorTaskTag = 0; Lun = 0; CmdSN = 0; ExpectedDataTransferLength = 0; ExpectedBidiReadLength = 0;
        IsRead = false; IsWrite = false; NextDataSN = 0; NextR2TSN = 0; DataOutReceived = 0;
        DataAckedBelow = 0; MissingDataIn = 0; DataAckTagBase = 0; DataAckTagCount = 0;
    }
}
