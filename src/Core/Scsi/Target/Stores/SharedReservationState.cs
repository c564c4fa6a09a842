namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// The persistent reservation state an <see cref="ISharedReservationStore"/> holds: the logical unit's image of it
/// (empty: no state stored yet) and the version the store gave it, which grows with every replacement.
/// </summary>
public readonly record struct SharedReservationState(ReadOnlyMemory<byte> Image, ulong Version)
{
    public static SharedReservationState None => new(ReadOnlyMemory<byte>.Empty, 0);
}
