namespace Iser.Core.Scsi.Target.Stores;

/// <summary>Bounds checks shared by the stores: a request outside the store is a caller bug, not a medium error.</summary>
internal static class StoreRange
{
    public static void Check(long offset, long length, long size)
    {
        if (offset < 0 || length < 0 || offset > size || length > size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"The range of {length} bytes at offset {offset} lies outside the store of {size} bytes.");
    }
}
