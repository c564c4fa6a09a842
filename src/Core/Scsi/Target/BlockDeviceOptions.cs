namespace Iser.Core.Scsi.Target;

/// <summary>How a <see cref="BlockDeviceLogicalUnit"/> presents itself. Defaults suit a thin-provisioned disk.</summary>
public sealed class BlockDeviceOptions
{
    /// <summary>Logical block size in bytes: 512 or 4096.</summary>
    public int BlockSize { get; init; } = 512;

    /// <summary>Physical block size reported by READ CAPACITY(16) (a power-of-two multiple of <see cref="BlockSize"/>).</summary>
    public int PhysicalBlockSize { get; init; } = 4096;

    /// <summary>
    /// A string that names this LU for good (e.g. "iqn.2026-11.org.example:disk1/lun0"); the unit serial number
    /// and the NAA / T10 designators are derived from it, so initiators recognise the same LU across restarts.
    /// Null: derived from the store description.
    /// </summary>
    public string? Identity { get; init; }

    /// <summary>INQUIRY PRODUCT IDENTIFICATION (≤ 16 printable ASCII characters).</summary>
    public string ProductId { get; init; } = "Iser Disk";

    /// <summary>INQUIRY PRODUCT REVISION LEVEL (≤ 4 printable ASCII characters).</summary>
    public string ProductRevision { get; init; } = "0001";

    /// <summary>The target's LUN numbers for REPORT LUNS; null reports only the addressed LUN.</summary>
    public Func<IReadOnlyList<ulong>>? LunList { get; init; }

    /// <summary>Largest READ/WRITE/VERIFY transfer in bytes (block limits VPD MAXIMUM TRANSFER LENGTH).</summary>
    public int MaxTransferBytes { get; init; } = 16 << 20;

    /// <summary>Preferred transfer size in bytes (block limits OPTIMAL TRANSFER LENGTH).</summary>
    public int OptimalTransferBytes { get; init; } = 1 << 20;

    /// <summary>Largest COMPARE AND WRITE in blocks (1..255).</summary>
    public int MaxCompareAndWriteBlocks { get; init; } = 255;

    /// <summary>Largest WRITE SAME in blocks. Kept below 65536 so a 0-length WRITE SAME(10) cannot exceed it silently.</summary>
    public long MaxWriteSameBlocks { get; init; } = 65535;
    /// <summary>What one EXTENDED COPY may ask of the copy manager (RECEIVE COPY RESULTS, OPERATING PARAMETERS).</summary>
    public Copy.CopyLimits CopyLimits { get; init; } = Copy.CopyLimits.Default;

    /// <summary>Largest total block count one UNMAP may name.</summary>
    public uint MaxUnmapBlocks { get; init; } = 1 << 20;

    /// <summary>Most block descriptors one UNMAP may carry.</summary>
    public uint MaxUnmapDescriptors { get; init; } = 256;

    /// <summary>Advertise thin provisioning (LBPME, UNMAP, WRITE SAME with UNMAP) when the store can discard.</summary>
    public bool ThinProvisioning { get; init; } = true;

    /// <summary>Initial (and default) state of the caching mode page's WCE bit; with WCE off every write is flushed.</summary>
    public bool WriteCacheEnabled { get; init; } = true;

    /// <summary>Honour DPO/FUA (reported by the DPOFUA bit in MODE SENSE); FUA writes are flushed.</summary>
    public bool DpoFua { get; init; } = true;

    /// <summary>Refuse all writes (DATA PROTECT / WRITE PROTECTED), reported by the WP bit in MODE SENSE.</summary>
    public bool ReadOnly { get; init; }
    /// <summary>
    /// A removable medium (INQUIRY RMB): START STOP UNIT with LOEJ ejects and loads it, PREVENT ALLOW MEDIUM REMOVAL locks
    /// it in per nexus. Off: a fixed disk, where both are accepted and change nothing but started/stopped.
    /// </summary>
    public bool Removable { get; init; }

    /// <summary>
    /// The least time one SANITIZE operation takes, spread evenly over its progress. A RAM or file medium erases in a
    /// moment where a disk takes minutes to hours; this lets an initiator (and libiscsi's Sanitize.Reset, which looks for
    /// a sanitize still running seconds after it began) see one in progress. Zero: as fast as the store goes.
    /// </summary>
    public TimeSpan SanitizeMinimumDuration { get; init; }

    /// <summary>
    /// Where the persistent reservation state is kept across restarts (APTPL, SPC-4 §5.13.5): loaded when the logical
    /// unit is constructed, replaced atomically whenever a PERSISTENT RESERVE OUT changes it while APTPL is active,
    /// deleted when APTPL goes off. Null: persist through power loss is not supported (REPORT CAPABILITIES says
    /// PTPL_C 0, and APTPL 1 is INVALID FIELD IN PARAMETER LIST).
    /// </summary>
    public string? PersistentReservationFile { get; init; }

    internal void Validate(long storeSize)
    {
        if (BlockSize is not (512 or 4096))
            throw new ArgumentException($"The block size must be 512 or 4096 bytes, not {BlockSize}.");
        if (PhysicalBlockSize < BlockSize || PhysicalBlockSize % BlockSize != 0 || !int.IsPow2(PhysicalBlockSize / BlockSize))
            throw new ArgumentException($"The physical block size {PhysicalBlockSize} must be a power-of-two multiple of the block size {BlockSize}.");
        if (storeSize < BlockSize)
            throw new ArgumentException($"The store of {storeSize} bytes is smaller than one block of {BlockSize} bytes.");
        if (MaxTransferBytes < BlockSize)
            throw new ArgumentException($"The maximum transfer of {MaxTransferBytes} bytes is smaller than one block.");
        if (MaxCompareAndWriteBlocks is < 1 or > 255)
            throw new ArgumentException($"The maximum COMPARE AND WRITE length must be 1 to 255 blocks, not {MaxCompareAndWriteBlocks}.");
        if (MaxWriteSameBlocks < 1)
            throw new ArgumentException("The maximum WRITE SAME length must be at least one block.");
        if (SanitizeMinimumDuration < TimeSpan.Zero)
            throw new ArgumentException("The minimum sanitize duration cannot be negative.");
        if (ProductId.Length > 16 || ProductRevision.Length > 4)
            throw new ArgumentException("The product identification is limited to 16 characters and the revision to 4.");
    }
}
