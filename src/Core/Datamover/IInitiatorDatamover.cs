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
}
