namespace Iser.Core.Scsi.Initiator;

/// <summary>One range to unmap: <see cref="BlockCount"/> blocks starting at <see cref="Lba"/> (SBC-3).</summary>
public readonly record struct UnmapBlockDescriptor(ulong Lba, uint BlockCount);
