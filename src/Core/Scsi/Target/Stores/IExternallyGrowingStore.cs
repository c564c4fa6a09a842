namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A store whose medium another client can enlarge (a shared image resized by its administrator): it says so, and the
/// logical unit over it grows to match (<see cref="BlockDeviceLogicalUnit.GrowAsync"/>, CAPACITY DATA HAS CHANGED).
/// </summary>
public interface IExternallyGrowingStore
{
    /// <summary>Raised, off any I/O completion thread, with the medium's new size in bytes when it grew.</summary>
    event Action<long>? MediumGrown;
}
