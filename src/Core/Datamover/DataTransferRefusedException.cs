namespace Iser.Core.Datamover;

/// <summary>
/// One task's data cannot be moved although the connection is sound: the initiator advertised no buffer (STag) for
/// it, or accepted no RDMA READs when it connected. The core answers the command with CHECK CONDITION (ABORTED
/// COMMAND, DATA PHASE ERROR) and keeps the connection, so the initiator gets a status instead of a timeout.
/// </summary>
public sealed class DataTransferRefusedException(string message) : DatamoverException(message);
