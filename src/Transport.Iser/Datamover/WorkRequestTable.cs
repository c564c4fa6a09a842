using Iser.Transport.Iser.Memory;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The connection's posted work requests, indexed by wr_id: what each was for, the registered block it uses and
/// the group waiting for it. Slots are preallocated (send queue + receive queue depth), so posting allocates nothing.
/// </summary>
internal sealed class WorkRequestTable
{
    internal struct Slot
    {
        public WorkRequestKind Kind;
        public RegisteredBlock Block;
        public RegisteredBufferPool? Pool;
        public OperationGroup? Group;
        /// <summary>
        /// Unsignaled request (RDMA WRITE or SEND): its position in the connection's unsignaled list. Signaled SEND: how
        /// many unsignaled requests were posted before it (its completion covers them: a send queue completes in order).
        /// </summary>
        public long Order;
        public bool Unsignaled;
    }

    private readonly Slot[] _slots;
    private readonly int[] _free;
    private readonly Lock _lock = new();
    private int _freeCount;

    public WorkRequestTable(int capacity)
    {
        _slots = new Slot[capacity];
        _free = new int[capacity];
        for (int i = capacity - 1; i >= 0; i--) _free[_freeCount++] = i;
    }

    public int Capacity => _slots.Length;
    public int InUse { get { lock (_lock) return _slots.Length - _freeCount; } }

    /// <summary>Reserves a slot; its index is the work request's wr_id. False when every slot is in use.</summary>
    public bool TryAllocate(WorkRequestKind kind, RegisteredBlock block, RegisteredBufferPool? pool, OperationGroup? group, out ulong wrId,
        long order = 0, bool unsignaled = false)
    {
        lock (_lock)
        {
            if (_freeCount == 0) { wrId = 0; return false; }
            int index = _free[--_freeCount];
            _slots[index] = new Slot { Kind = kind, Block = block, Pool = pool, Group = group, Order = order, Unsignaled = unsignaled };
            wrId = (ulong)index;
            return true;
        }
    }

    /// <summary>Takes the slot of a completed (or never posted) work request and frees it.</summary>
    public Slot Take(ulong wrId)
    {
        lock (_lock)
        {
            if (wrId >= (ulong)_slots.Length || _slots[wrId].Kind == WorkRequestKind.Free)
                throw new InvalidOperationException($"A completion names wr_id {wrId}, which is not a posted work request.");
            var slot = _slots[wrId];
            _slots[wrId] = default;
            _free[_freeCount++] = (int)wrId;
            return slot;
        }
    }
}
