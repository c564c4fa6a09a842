namespace Iser.Core.Scsi.Initiator;

/// <summary>
/// The Block Limits VPD page 0xB0 (SBC-3). Counts are in logical blocks; 0 means "not reported / no
/// limit", as SBC-3 defines, which is also what a field cut off by a short (older) page reads as.
/// </summary>
public sealed record BlockLimits
{
    /// <summary>WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is not supported.</summary>
    public bool WriteSameNonZero { get; init; }
    public byte MaximumCompareAndWriteLength { get; init; }
    public ushort OptimalTransferLengthGranularity { get; init; }
    public uint MaximumTransferLength { get; init; }
    public uint OptimalTransferLength { get; init; }
    public uint MaximumPrefetchLength { get; init; }
    public uint MaximumUnmapLbaCount { get; init; }
    public uint MaximumUnmapBlockDescriptorCount { get; init; }
    public uint OptimalUnmapGranularity { get; init; }
    /// <summary>UGAVALID: <see cref="UnmapGranularityAlignment"/> is meaningful.</summary>
    public bool UnmapGranularityAlignmentValid { get; init; }
    public uint UnmapGranularityAlignment { get; init; }
    public ulong MaximumWriteSameLength { get; init; }
}
