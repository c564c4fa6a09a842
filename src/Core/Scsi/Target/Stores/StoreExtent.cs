namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A run of bytes of a store with one provisioning state: <see cref="Mapped"/> when space backs it, false when it is
/// deallocated (reads back as zeros and costs nothing). What GET LBA STATUS reports, in bytes.
/// </summary>
public readonly record struct StoreExtent(long Offset, long Length, bool Mapped)
{
    public long End => Offset + Length;
}
