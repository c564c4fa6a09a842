using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Transport.InMemory;

/// <summary>
/// The target end: Put_Data copies straight into the initiator's registered read buffer and Get_Data out of its write
/// buffer, in place of iSER's RDMA WRITE and READ. Status never rides in data: the core sends a SCSI Response after
/// Put_Data, which the initiator receives only after the copy, so the data is there when the status is.
/// </summary>
public sealed class InMemoryTargetDatamover : InMemoryDatamover, ITargetDatamover
{
    internal InMemoryTargetDatamover(InMemoryConnection connection, string localEndPoint, string remoteEndPoint)
        : base(connection, localEndPoint, remoteEndPoint)
    {
    }

    public void BeginTask(DataTask task, Pdu command, Memory<byte> writeBuffer)
    {
        var state = task.TransportState as InMemoryTargetTaskState ?? new InMemoryTargetTaskState();
        task.TransportState = state;
        var advertised = command.Rdma;
        state.HasRead = advertised.HasRead;
        state.HasWrite = advertised.HasWrite;
        state.Key = advertised.HasRead ? advertised.ReadStag : advertised.HasWrite ? advertised.WriteStag : 0;
        // Null when the initiator already ended the command: its data then has nowhere to go.
        state.Registration = state.Key == 0 ? null : Connection.FindRegistration(state.Key);
        state.WriteBuffer = writeBuffer;
    }

    public ValueTask<bool> PutDataAsync(DataTask task, ReadOnlyMemory<byte> data, int bufferOffset, bool isLast,
        CollapsedStatus? collapsedStatus, CancellationToken cancellationToken = default)
    {
        var state = task.TransportState as InMemoryTargetTaskState
            ?? throw new InvalidOperationException("Put_Data on a task the in-memory datamover never began.");
        ThrowIfClosed();
        if (data.IsEmpty) return ValueTask.FromResult(false);
        if (!state.HasRead)
            throw new DataTransferRefusedException(
                $"Task 0x{task.InitiatorTaskTag:x8} has {data.Length} bytes of read data, but the initiator registered no read buffer for it.");
        // A command the initiator already ended (aborted, timed out) takes nothing, as a Data-In for an unknown task is dropped.
        Place(state, data.Span, bufferOffset);
        // Never collapsed, as on iSER: the core follows with a SCSI Response.
        return ValueTask.FromResult(false);
    }

    public ValueTask GetDataAsync(DataTask task, int length, CancellationToken cancellationToken = default)
    {
        var state = task.TransportState as InMemoryTargetTaskState
            ?? throw new InvalidOperationException("Get_Data on a task the in-memory datamover never began.");
        if (length == 0) return ValueTask.CompletedTask;
        if (length > state.WriteBuffer.Length) throw new ArgumentOutOfRangeException(nameof(length));
        ThrowIfClosed();
        if (!state.HasWrite)
            throw new DataTransferRefusedException(
                $"Task 0x{task.InitiatorTaskTag:x8} needs {length} bytes of write data, but the initiator registered no write buffer for it.");
        if (!Fetch(state, state.WriteBuffer.Span[..length]))
            throw new DatamoverException($"Task 0x{task.InitiatorTaskTag:x8}: the initiator ended the command; its write data is gone.");
        return ValueTask.CompletedTask;
    }

    private bool Place(InMemoryTargetTaskState state, ReadOnlySpan<byte> data, int offset)
    {
        try
        {
            return state.Registration?.Place(state.Key, data, offset) ?? false;
        }
        catch (DatamoverException e)
        {
            // As an RDMA WRITE outside the advertised buffer fails the queue pair, it fails the connection.
            Connection.Kill(e.Message);
            throw;
        }
    }

    private bool Fetch(InMemoryTargetTaskState state, Span<byte> destination)
    {
        try
        {
            return state.Registration?.Fetch(state.Key, destination) ?? false;
        }
        catch (DatamoverException e)
        {
            Connection.Kill(e.Message);
            throw;
        }
    }

    public void EndTask(DataTask task)
    {
        if (task.TransportState is InMemoryTargetTaskState state)
        {
            state.Registration = null;
            state.WriteBuffer = default;
        }
    }
}
