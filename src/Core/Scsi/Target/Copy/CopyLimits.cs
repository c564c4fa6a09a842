namespace Iser.Core.Scsi.Target.Copy;

/// <summary>
/// What the copy manager takes in one EXTENDED COPY (LID1), as RECEIVE COPY RESULTS (OPERATING PARAMETERS) reports it
/// (SPC-4 §6.18.4): copies run synchronously, block to block, between logical units of one target, nothing is held or
/// inlined.
/// </summary>
public sealed record CopyLimits
{
    public int MaxCscdDescriptors { get; init; } = 8;
    public int MaxSegmentDescriptors { get; init; } = 16;
    public int MaxDescriptorListLength { get; init; } = 1024;
    /// <summary>The largest segment, in bytes (a 02h segment's blocks times the block length count against it).</summary>
    public long MaxSegmentLength { get; init; } = 16 << 20;
    public long MaxInlineDataLength { get; init; } = 0;
    /// <summary>EXTENDED COPY commands the logical unit runs at once (more wait for their turn).</summary>
    public int MaxConcurrentCopies { get; init; } = 8;

    public static CopyLimits Default { get; } = new();
}
