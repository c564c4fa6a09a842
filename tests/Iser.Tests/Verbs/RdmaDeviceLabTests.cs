using System.Runtime.InteropServices;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Tests.Verbs;

/// <summary>Raw verbs on the lab's rxe device: device and port queries, PD/CQ/QP, registered memory.</summary>
[Trait("Category", "Lab")]
public sealed class RdmaDeviceLabTests
{
    [LabFact]
    public void OpensTheDeviceAndReadsAnActiveRoCEPort()
    {
        using RdmaDevice device = RdmaDevice.Open(LabEnvironment.DeviceName);
        Assert.Contains(device.Name, RdmaRuntime.DeviceNames);

        DeviceAttributes attributes = device.QueryDevice();
        Assert.True(attributes.MaxQueuePairs > 0, $"max_qp {attributes.MaxQueuePairs}");
        Assert.True(attributes.MaxScatterGatherElements >= 1);
        Assert.True(attributes.MaxQueuePairReadAtomic >= 1, "the device must allow RDMA READ responders");
        Assert.True(attributes.PhysicalPortCount >= 1);

        PortAttributes port = device.QueryPort(1);
        Assert.True(port.IsActive, $"port state {port.State}");
        Assert.True(port.IsEthernet, $"link layer {port.LinkLayer}");
        Assert.InRange(port.ActiveMtuBytes, 256, 4096);
        Assert.True(port.GidTableLength > 0);

        byte[] gid = device.QueryGid(1, 0);
        Assert.Equal(16, gid.Length);
        Assert.Contains(gid, b => b != 0);
    }

    [LabFact]
    public void EventNamesMatchLibrdmacm()
    {
        foreach (RdmaCmEventType type in Enum.GetValues<RdmaCmEventType>())
        {
            Assert.Equal(Marshal.PtrToStringUTF8(LibRdmacm.rdma_event_str((int)type)), RdmaCmEvent.EventName(type));
        }
    }

    [LabFact]
    public unsafe void RawQueuePairReportsGrantedCapacitiesAndOutlivesItsDisposedParents()
    {
        using RdmaDevice device = RdmaDevice.Open(LabEnvironment.DeviceName);
        using ProtectionDomain pd = device.AllocateProtectionDomain();
        using CompletionChannel channel = device.CreateCompletionChannel();
        using CompletionQueue cq = device.CreateCompletionQueue(64, channel);
        Assert.True(cq.Capacity >= 64);
        Assert.True(channel.FileDescriptor >= 0);

        using QueuePair qp = pd.CreateQueuePair(cq, cq, new QueuePairCapacities(16, 16, 2, 1, 0));
        Assert.NotEqual(0U, qp.QpNumber);
        Assert.True(qp.Capacities.MaxSendWorkRequests >= 16);
        Assert.True(qp.Capacities.MaxReceiveWorkRequests >= 16);

        // Linux allows RESET -> INIT only; the refusal comes back as a sentence.
        VerbsException refused = Assert.Throws<VerbsException>(() => qp.MoveToErrorState());
        Assert.Equal("ibv_modify_qp(IBV_QPS_ERR) failed: Invalid argument (errno 22)", refused.Message);

        // Dispose the parents first: the QP's references keep the native PD and CQ alive until the
        // QP goes, while the disposed wrappers refuse new children.
        pd.Dispose();
        cq.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pd.CreateQueuePair(cq, cq, new QueuePairCapacities()));
        Assert.False(qp.Handle.IsClosed);
        Assert.Equal(22, Assert.Throws<VerbsException>(() => qp.MoveToErrorState()).Errno); // the QP still reaches the device
        qp.Dispose();
        Assert.Throws<ObjectDisposedException>(() => qp.MoveToErrorState());
    }

    [LabFact]
    public void BufferPoolRegistersEachSlabOnceAndHandsOutPageAlignedBlocks()
    {
        using RdmaDevice device = RdmaDevice.Open(LabEnvironment.DeviceName);
        using ProtectionDomain pd = device.AllocateProtectionDomain();
        using RegisteredBufferPool pool = new(pd, blockSize: 8192, blocksPerSlab: 4, maxSlabs: 2, initialSlabs: 1);

        Assert.Equal(1, pool.SlabCount);
        RegisteredBlock[] first = Enumerable.Range(0, 4).Select(_ => pool.Rent()).ToArray();
        Assert.Equal(1, pool.SlabCount);
        MemoryRegion slab = Assert.Single(pool.Regions);
        Assert.All(first, b => Assert.Equal(slab.Lkey, b.Lkey));
        Assert.All(first, b => Assert.Equal(slab.Rkey, b.Rkey));
        Assert.All(first, b => Assert.True(slab.Contains(b.Address, (ulong)b.Length)));
        Assert.Equal(0UL, slab.Address % (ulong)Environment.SystemPageSize);
        Assert.Equal(4, first.Select(b => b.Address).Distinct().Count());

        RegisteredBlock fifth = pool.Rent(); // grows by one registered slab
        Assert.Equal(2, pool.SlabCount);
        Assert.NotEqual(slab.Lkey, fifth.Lkey);

        for (int i = 0; i < 3; i++)
        {
            pool.Rent();
        }

        Assert.False(pool.TryRent(out _));
        InvalidOperationException exhausted = Assert.Throws<InvalidOperationException>(() => pool.Rent());
        Assert.Contains("exhausted", exhausted.Message);

        pool.Return(first[2]);
        Assert.Throws<InvalidOperationException>(() => pool.Return(first[2]));
        Assert.Equal(first[2], pool.Rent());
    }

    [LabFact]
    public void RegionCacheHitsForTheSameBufferAndEvictsTheLeastRecentlyUsed()
    {
        using RdmaDevice device = RdmaDevice.Open(LabEnvironment.DeviceName);
        using ProtectionDomain pd = device.AllocateProtectionDomain();
        using MemoryRegionCache cache = new(pd, maxEntries: 2);
        byte[] a = GC.AllocateArray<byte>(4096, pinned: true);
        byte[] b = GC.AllocateArray<byte>(4096, pinned: true);
        byte[] c = GC.AllocateArray<byte>(4096, pinned: true);

        uint lkeyA;
        using (MemoryRegionLease lease = cache.Acquire(a))
        {
            lkeyA = lease.Lkey;
            Assert.Equal(4096, lease.Length);
        }

        using (MemoryRegionLease again = cache.Acquire(a))
        {
            Assert.Equal(lkeyA, again.Lkey);
        }

        Assert.Equal(1, cache.Hits);
        Assert.Equal(1, cache.Misses);

        cache.Acquire(b).Dispose();
        cache.Acquire(a).Dispose(); // a is now the most recently used
        cache.Acquire(c).Dispose(); // over the bound: b goes
        Assert.Equal(2, cache.Count);
        Assert.Equal(1, cache.Evictions);

        long misses = cache.Misses;
        cache.Acquire(a).Dispose();
        Assert.Equal(misses, cache.Misses);
        cache.Acquire(b).Dispose();
        Assert.Equal(misses + 1, cache.Misses);
    }
}
