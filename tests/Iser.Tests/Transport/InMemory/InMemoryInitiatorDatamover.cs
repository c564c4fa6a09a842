using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Transport.InMemory;

/// <summary>
/// The initiator end: a SCSI Command goes out with its buffers registered on the connection and advertised in the
/// PDU's <see cref="Pdu.Rdma"/> field, as the iSER initiator advertises STags. No Data-In or R2T ever arrives: when
/// the SCSI Response comes, the target has already placed the read data.
/// </summary>
public sealed class InMemoryInitiatorDatamover : InMemoryDatamover, IInitiatorDatamover
{
    internal InMemoryInitiatorDatamover(InMemoryConnection connection, string localEndPoint, string remoteEndPoint)
        : base(connection, localEndPoint, remoteEndPoint)
    {
    }

    // The receive loop says when its inbox runs dry, so the session batches thread-pool completions here as on TCP.
    public bool ReportsReceiveIdle => true;

    public ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
        CancellationToken cancellationToken = default)
    {
        var registration = task.TransportState as InMemoryBufferRegistration ?? new InMemoryBufferRegistration();
        task.TransportState = registration;
        bool read = task.IsRead && !readBuffer.IsEmpty, write = task.IsWrite && !writeBuffer.IsEmpty;
        uint key = read || write ? registration.Bind(Connection, read ? readBuffer : default, write ? writeBuffer : default) : 0;
        command.Rdma = new RdmaBufferAdvertisement { HasRead = read, ReadStag = key, HasWrite = write, WriteStag = key };
        // As on iSER (ImmediateData=No, InitialR2T=Yes): the command carries no data, and no Data-Out follows.
        command.Final = true;
        try
        {
            return SendControlAsync(command, cancellationToken);
        }
        catch
        {
            EndTask(task);
            throw;
        }
    }

    public void EndTask(DataTask task) => (task.TransportState as InMemoryBufferRegistration)?.Release();
}
