using System.Runtime.InteropServices;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// iSER initiator datamover (RFC 7145 §7.2): a SCSI Command goes out by SEND with the task's buffers advertised in
/// the iSER header (Write STag/VA for data the target will RDMA READ, Read STag/VA for data it will RDMA WRITE).
/// The buffers are the caller's own memory, registered through a <see cref="MemoryRegionCache"/> (zero copy; an
/// application that reuses its I/O buffers pays ibv_reg_mr once per buffer) and held until EndTask. No Data-In or
/// R2T arrives: when the SCSI Response comes, the data is already in place (RC ordering).
/// </summary>
public sealed class IserInitiatorDatamover : IserConnection, IInitiatorDatamover
{
    private readonly MemoryRegionCache _registrations;

    /// <summary>
    /// The rdma_cm events of every initiator connection in the process, on one thread (as a listener's connections
    /// share theirs): a client holding many sessions does not start a watcher thread per connection.
    /// </summary>
    private static readonly Lazy<ConnectionEventThread> s_events = new(() => new ConnectionEventThread("iser-cm initiators"));

    /// <param name="shared">The initiators' shared queues on this device, with the CQ <paramref name="worker"/>; null when
    /// the connection has its own (<see cref="IserOptions.ShareConnectionResources"/> false).</param>
    internal IserInitiatorDatamover(RdmaConnection rdma, IserOptions options, ILogger logger, InitiatorDeviceResources? shared,
        CompletionWorker? worker, string localEndPoint, string remoteEndPoint)
        : base(rdma, options, logger, dataBuffers: null, shared, worker, eventThread: s_events.Value, localEndPoint, remoteEndPoint)
    {
        _registrations = new MemoryRegionCache(rdma.ProtectionDomain, options.RegistrationCacheEntries, maxBytes: 1L << 30);
    }

    // The CQ thread tells the receiver after each completion batch; a send batch stages SENDs for one doorbell.
    public bool ReportsReceiveIdle => true;
    public bool ReceiveIdleIsBounded => true; // idle after every drain, at most 4 batches of 32 completions (a shared CQ's too)
    public void BeginSendBatch() => Sends.BeginBatch();
    public void EndSendBatch() => Sends.EndBatch();
    public void FlushSends() => Sends.Flush();

    /// <summary>Registrations the cache holds now (in use or idle).</summary>
    public int CachedRegistrations => _registrations.Count;

    public async ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
        CancellationToken cancellationToken = default)
    {
        var state = task.TransportState as IserInitiatorTaskState ?? new IserInitiatorTaskState();
        task.TransportState = state;
        ReleaseLeases(state);
        var advertisement = new RdmaBufferAdvertisement();
        try
        {
            ThrowIfFailed();
            if (task.IsRead && !readBuffer.IsEmpty && Options.InitiatorAdvertisesReadBuffers)
            {
                state.ReadLease = _registrations.Acquire(readBuffer);
                state.HasReadLease = true;
                advertisement.HasRead = true;
                advertisement.ReadStag = state.ReadLease.Rkey;
                advertisement.ReadVa = state.ReadLease.Address;
            }
            if (task.IsWrite && !writeBuffer.IsEmpty)
            {
                state.WriteLease = _registrations.Acquire(MemoryMarshal.AsMemory(writeBuffer));
                state.HasWriteLease = true;
                advertisement.HasWrite = true;
                advertisement.WriteStag = state.WriteLease.Rkey;
                advertisement.WriteVa = state.WriteLease.Address;
            }
        }
        catch (Exception e) when (e is VerbsException or ObjectDisposedException)
        {
            ReleaseLeases(state);
            PduPool.Return(command);
            throw new DatamoverException($"Registering the buffers of task 0x{task.InitiatorTaskTag:x8} for RDMA failed: {e.Message}", e);
        }
        catch
        {
            ReleaseLeases(state);
            PduPool.Return(command);
            throw;
        }
        command.Rdma = advertisement;
        // ImmediateData=No and InitialR2T=Yes on iSER: the command carries no data; F=1.
        command.Final = true;
        try
        {
            await SendControlAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            EndTask(task);
            throw;
        }
    }

    public void EndTask(DataTask task)
    {
        if (task.TransportState is IserInitiatorTaskState state) ReleaseLeases(state);
    }

    private static void ReleaseLeases(IserInitiatorTaskState state)
    {
        lock (state)
        {
            if (state.HasReadLease) state.ReadLease.Dispose();
            if (state.HasWriteLease) state.WriteLease.Dispose();
            state.HasReadLease = state.HasWriteLease = false;
            state.ReadLease = state.WriteLease = default;
        }
    }

    internal override void OnResourcesFreed() => _registrations.Dispose();
}
