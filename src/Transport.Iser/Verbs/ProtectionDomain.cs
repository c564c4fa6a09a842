using System.Buffers;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>A protection domain (ibv_pd): memory regions and queue pairs must share one to work together.</summary>
public sealed unsafe class ProtectionDomain : IDisposable
{
    internal ProtectionDomain(RdmaDevice device)
    {
        Device = device;
        IntPtr context = device.Handle.DangerousGetHandle();
        Handle = NativeObjectHandle.Create(
            NativeObjectKind.ProtectionDomain, "ibv_alloc_pd", () => LibIbverbs.ibv_alloc_pd(context), null, device.Handle);
    }

    public RdmaDevice Device { get; }

    internal NativeObjectHandle Handle { get; }

    /// <summary>
    /// Registers native memory the caller keeps alive and fixed for the region's lifetime
    /// (e.g. NativeMemory or a pinned-heap array).
    /// </summary>
    public MemoryRegion Register(void* address, nuint length, MemoryAccess access) => new(this, address, length, access, pin: null);

    /// <summary>
    /// Registers memory and hands <paramref name="releaseAfterDeregistration"/> to the region, to be
    /// disposed only once the registration is gone (e.g. to free or unpin the memory).
    /// </summary>
    internal MemoryRegion Register(void* address, nuint length, MemoryAccess access, IDisposable releaseAfterDeregistration) =>
        new(this, address, length, access, releaseAfterDeregistration);

    /// <summary>
    /// Pins <paramref name="buffer"/> and registers it; the pin is released after deregistration.
    /// Zero copy for caller-owned buffers (see Memory.MemoryRegionCache for reuse).
    /// </summary>
    public MemoryRegion Register(Memory<byte> buffer, MemoryAccess access)
    {
        if (buffer.IsEmpty)
        {
            throw new ArgumentException("An empty buffer cannot be registered.", nameof(buffer));
        }

        MemoryHandle pin = buffer.Pin();
        try
        {
            return new MemoryRegion(this, pin.Pointer, (nuint)buffer.Length, access, new PinRelease(pin));
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    /// <summary>Creates an unconnected RC queue pair with ibv_create_qp (rdma_cm users call RdmaCmId.CreateQueuePair instead).</summary>
    public QueuePair CreateQueuePair(CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairCapacities capacities) =>
        QueuePair.CreateRaw(this, sendQueue, receiveQueue, capacities);

    /// <summary>Creates a shared receive queue (ibv_create_srq) that queue pairs on this PD may draw receive buffers from.</summary>
    public SharedReceiveQueue CreateSharedReceiveQueue(int maxWorkRequests, int maxSge = 1) => new(this, maxWorkRequests, maxSge);

    public void Dispose() => Handle.Dispose();

    /// <summary>Adapts a MemoryHandle (a struct) to the IDisposable the region's SafeHandle releases last.</summary>
    private sealed class PinRelease(MemoryHandle pin) : IDisposable
    {
        private MemoryHandle _pin = pin;

        public void Dispose() => _pin.Dispose();
    }
}
