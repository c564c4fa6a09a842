namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// The persistent reservation state an <see cref="ISharedReservationStore"/> holds: the logical unit's image of it
/// (empty: no state stored yet) and the version the store gave it, which grows with every replacement. A state another
/// target just stored comes with that target's <see cref="Announcement"/> (what its command did besides changing the
/// state: unit attentions to establish, tasks to abort); a state read, or announced back to the target that stored
/// it, has none.
/// </summary>
public readonly record struct SharedReservationState(ReadOnlyMemory<byte> Image, ulong Version)
{
    public static SharedReservationState None => new(ReadOnlyMemory<byte>.Empty, 0);

    /// <summary>The storing target's opaque announcement (empty: none).</summary>
    public ReadOnlyMemory<byte> Announcement { get; init; }
}
