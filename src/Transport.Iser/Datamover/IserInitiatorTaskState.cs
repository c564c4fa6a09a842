using Iser.Transport.Iser.Memory;

namespace Iser.Transport.Iser.Datamover;

/// <summary>The registrations an initiator task advertised; released at Deallocate_Task_Resources.</summary>
internal sealed class IserInitiatorTaskState
{
    public MemoryRegionLease ReadLease;
    public MemoryRegionLease WriteLease;
    public bool HasReadLease;
    public bool HasWriteLease;
}
