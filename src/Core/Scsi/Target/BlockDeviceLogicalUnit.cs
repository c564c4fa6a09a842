using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Reservations;
using Iser.Core.Scsi.Target.Stores;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// An SBC-3 direct-access block device over an <see cref="IBackingStore"/>. Commands may run concurrently;
/// each CDB is validated completely before any data is fetched from the initiator, and every failure is a
/// CHECK CONDITION with fixed-format sense, never an exception (cancellation excepted).
/// Data lengths in results are the lengths the CDB called for; the core derives residuals from them.
/// </summary>
/// <remarks>The command families live in the partial files next to this one (I/O, provisioning, device information).</remarks>
public sealed partial class BlockDeviceLogicalUnit : ILogicalUnit
{
    private readonly IBackingStore _store;
    private readonly BlockDeviceOptions _options;
    private readonly ILogger _logger;
    private readonly bool _ownsStore;
    private readonly int _blockShift;
    private readonly int _maxTransferBlocks;
    private readonly bool _thin;
    private readonly int _blocksPerPhysical;
    private readonly InquiryPages _inquiry;
    private readonly ModePages _modes;
    private readonly BlockRangeLock _ranges = new();
    private readonly AtomicReadGate _atomicReads = new();
    private readonly int _maxAtomicBlocks;
    private readonly IReadOnlyList<SupportedOperations.Operation> _operations;
    private readonly bool[] _supportedOpcodes = new bool[256];
    private readonly PersistentReservations _reservations;
    private readonly UnitAttentions _unitAttentions = new();
    private volatile bool _stopped;

    /// <param name="store">The medium. Disposed with the LU when <paramref name="ownsStore"/> is true.</param>
    public BlockDeviceLogicalUnit(IBackingStore store, BlockDeviceOptions? options = null, ILogger? logger = null, bool ownsStore = true)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _options = options ?? new BlockDeviceOptions();
        _options.Validate(store.Size);
        _logger = logger ?? NullLogger.Instance;
        _ownsStore = ownsStore;
        BlockSize = _options.BlockSize;
        _blockShift = System.Numerics.BitOperations.Log2((uint)BlockSize);
        _blockCount = store.Size >> _blockShift;
        _maxTransferBlocks = _options.MaxTransferBytes >> _blockShift;
        _thin = _options.ThinProvisioning && store.SupportsDiscard;
        _blocksPerPhysical = _options.PhysicalBlockSize / BlockSize;
        Identity = _options.Identity ?? store.Describe();
        // WRITE ATOMIC(16) carries a 16-bit length; atomicity comes from range leases, so any transfer we take qualifies.
        _maxAtomicBlocks = Math.Min(_maxTransferBlocks, ushort.MaxValue);
        _inquiry = new InquiryPages(new InquiryPages.Geometry(BlockSize, _blocksPerPhysical, _thin, _maxAtomicBlocks), _options, Identity);
        _modes = new ModePages(_options.WriteCacheEnabled);
        _operations = SupportedOperations.Build(_options.DpoFua, erase: EraseOffered);
        foreach (var op in _operations) _supportedOpcodes[op.Opcode] = true;
        if (store is Stores.IExternallyGrowingStore growing) growing.MediumGrown += OnMediumGrown;
        _sharedReservations = SharedStoreOf(store);
        if (_sharedReservations is { } shared)
        {
            // The state lives in the store, shared with the other targets of the medium; a state file would be a second truth.
            if (_options.PersistentReservationFile is { } ignored)
                _logger.LogWarning("Logical unit {Identity}: its store shares persistent reservations, so the state file {Path} is not used.", Identity, ignored);
            _reservations = new PersistentReservations(SharedReservationOptions);
            AttachSharedReservations(shared);
        }
        else
        {
            _reservations = LoadReservations(_options.PersistentReservationFile);
        }
        _sharedAccess = SharedAccessStoreOf(store);
        if (_sharedAccess is { } sharedAccess) AttachSharedAccessStates(sharedAccess);
        if (_sharedReservations is null && _options.PersistentReservationFile is { } prFile && _reservations.PersistThroughPowerLoss)
        {
            _logger.LogInformation("Logical unit {Identity}: persistent reservations restored from {Path}: {State}.", Identity, prFile, _reservations);
            _unitAttentions.PowerOn(_reservations.Registrants);
        }
    }

    private long _blockCount; // grows only (GrowAsync)

    public long BlockCount => Volatile.Read(ref _blockCount);
    public int BlockSize { get; }

    /// <summary>The stable identity the serial number and designators derive from.</summary>
    public string Identity { get; }

    /// <summary>VPD page 80h unit serial number.</summary>
    public string SerialNumber => _inquiry.SerialNumber;

    /// <summary>The backing store (for diagnostics).</summary>
    public IBackingStore Store => _store;

    /// <summary>The unit attention conditions pending per I_T nexus.</summary>
    public UnitAttentions UnitAttentions => _unitAttentions;

    private bool WriteProtected => _options.ReadOnly || _modes.SoftwareWriteProtect;

    public ValueTask<ScsiCommandResult> ExecuteAsync(IScsiTask task, CancellationToken cancellationToken)
    {
        var cdb = task.Cdb.Span;
        if (cdb.IsEmpty) return Done(Check(SenseCondition.InvalidCommandOperationCode));
        byte opcode = cdb[0];
        var nexus = task.Nexus;
        // While a sanitize runs only INQUIRY, REPORT LUNS and REQUEST SENSE are processed (SBC-4 §4.11); this comes
        // before a unit attention, which stays pending until the medium is back.
        if (SanitizeInProgressRefusal(opcode) is { } sanitizing) return Done(sanitizing);
        // A pending unit attention ends any command but these three (SPC-4 §5.14), before the command is even checked.
        switch (opcode)
        {
            case SbcOpcode.Inquiry:
            case SbcOpcode.RequestSense: // reports it as its data
                break;
            case SbcOpcode.ReportLuns:
                _unitAttentions.Clear(nexus, UnitAttentions.ReportedLunsDataChanged);
                break;
            default:
                if (_unitAttentions.Take(nexus) is { } attention) return Done(Check(attention));
                break;
        }
        // The access state of the command's target port group (SPC-4 §5.15.2.4): while every group is active, one field read.
        if (AccessStateRefusal(task, cdb) is { } inaccessible) return Done(Check(inaccessible));
        int length = SbcOpcode.CdbLength(opcode);
        if (length == 0 || cdb.Length < length || !IsSupported(opcode))
            return Done(CheckAt(SenseCondition.InvalidCommandOperationCode, 0));
        cdb = cdb[..length];
        if (_reservations.CheckAccess(nexus, ScsiCommandClassifier.Classify(cdb)) == PrAccess.Conflict)
            return Done(new ScsiCommandResult { Status = ScsiStatus.ReservationConflict });
        // CONTROL byte: NACA and the obsolete LINK bit are not supported (SAM-5 §5.2).
        if ((cdb[^1] & 0x05) != 0) return Done(InvalidField(length - 1, (cdb[^1] & 0x04) != 0 ? 2 : 0));
        if (SanitizeFailureRefusal(opcode) is { } sanitizeFailed) return Done(sanitizeFailed);

        switch (opcode)
        {
            case SbcOpcode.Read6:
            case SbcOpcode.Read10:
            case SbcOpcode.Read12:
            case SbcOpcode.Read16:
                return Read(task, cdb, cancellationToken);
            case SbcOpcode.Write6:
            case SbcOpcode.Write10:
            case SbcOpcode.Write12:
            case SbcOpcode.Write16:
                return Write(task, cdb, cancellationToken);
            case SbcOpcode.Verify10:
            case SbcOpcode.Verify12:
            case SbcOpcode.Verify16:
                return Verify(task, cdb, cancellationToken);
            case SbcOpcode.WriteAndVerify10:
            case SbcOpcode.WriteAndVerify12:
            case SbcOpcode.WriteAndVerify16:
                return WriteAndVerify(task, cdb, cancellationToken);
            case SbcOpcode.CompareAndWrite:
                return CompareAndWrite(task, cdb, cancellationToken);
            case SbcOpcode.OrWrite16:
                return OrWrite(task, cdb, cancellationToken);
            case SbcOpcode.WriteAtomic16:
                return WriteAtomic(task, cdb, cancellationToken);
            case SbcOpcode.PreFetch10:
            case SbcOpcode.PreFetch16:
                return PreFetch(cdb);
            case SbcOpcode.ReadDefectData10:
            case SbcOpcode.ReadDefectData12:
                return Done(ReadDefectData(task, cdb));
            case SbcOpcode.WriteSame10:
            case SbcOpcode.WriteSame16:
                return WriteSame(task, cdb, cancellationToken);
            case SbcOpcode.Unmap:
                return Unmap(task, cdb, cancellationToken);
            case SbcOpcode.Sanitize:
                return Sanitize(task, cdb, cancellationToken);
            case SbcOpcode.SynchronizeCache10:
            case SbcOpcode.SynchronizeCache16:
                return SynchronizeCache(cdb, cancellationToken);
            case SbcOpcode.TestUnitReady:
                return Done(_stopped ? Check(NotReady) : ScsiCommandResult.Good());
            case SbcOpcode.Inquiry:
                return Done(Inquiry(task, cdb));
            case SbcOpcode.RequestSense:
                return Done(RequestSense(task, cdb));
            case SbcOpcode.ReadCapacity10:
                return Done(ReadCapacity10(task, cdb));
            case SbcOpcode.ExtendedCopy:
                return ExtendedCopy(task, cdb, cancellationToken);
            case SbcOpcode.ReceiveCopyResults:
                return Done(ReceiveCopyResults(task, cdb));
            case SbcOpcode.ServiceActionIn16:
                return (cdb[1] & 0x1F) == SbcOpcode.GetLbaStatusAction ? GetLbaStatus(task, cdb, cancellationToken) : Done(ServiceActionIn(task, cdb));
            case SbcOpcode.ReportLuns:
                return Done(ReportLuns(task, cdb));
            case SbcOpcode.MaintenanceIn:
                return Done(MaintenanceIn(task, cdb));
            case SbcOpcode.MaintenanceOut:
                return MaintenanceOut(task, cdb, cancellationToken);
            case SbcOpcode.PersistentReserveIn:
                return Done(PersistentReserveIn(task, cdb));
            case SbcOpcode.PersistentReserveOut:
                return PersistentReserveOut(task, cdb, cancellationToken);
            case SbcOpcode.Reserve6:
            case SbcOpcode.Release6:
            case SbcOpcode.Reserve10:
            case SbcOpcode.Release10:
                return LegacyReservation(task, cdb, cancellationToken);
            case SbcOpcode.ModeSense6:
            case SbcOpcode.ModeSense10:
                return Done(ModeSense(task, cdb));
            case SbcOpcode.ModeSelect6:
            case SbcOpcode.ModeSelect10:
                return ModeSelect(task, cdb, cancellationToken);
            case SbcOpcode.StartStopUnit:
                return Done(StartStopUnit(cdb));
            case SbcOpcode.PreventAllowMediumRemoval:
                return Done(PreventAllowMediumRemoval(task, cdb));
            default:
                return Done(CheckAt(SenseCondition.InvalidCommandOperationCode, 0));
        }
    }

    /// <summary>LUNs were added to or removed from the target this unit belongs to: every nexus is told (3Fh/0Eh).</summary>
    public void OnLunInventoryChanged() => _unitAttentions.EstablishForAll(UnitAttentions.ReportedLunsDataChanged);

    /// <summary>CLEAR TASK SET from another nexus ended tasks of <paramref name="nexus"/> here (SAM-5 §7.5, TAS 0).</summary>
    public void OnTasksClearedByAnotherInitiator(in ItNexus nexus) =>
        _unitAttentions.Establish(nexus, UnitAttentions.CommandsClearedByAnotherInitiator);

    public void Reset(LogicalUnitResetKind kind)
    {
        // Outstanding commands are cancelled by the core through their tokens; what the LU keeps across commands is
        // its mode parameters, its started/stopped state and its reservations, which a reset returns to power-on values.
        _modes.RestoreDefaults();
        _stopped = _ejected; // a reset starts the unit; it does not load an ejected medium
        ClearPreventions();
        // A RESERVE(6)/(10) reservation goes; persistent reservations survive every reset (SPC-4 §5.13.1).
        if (_reservations.LegacyHolder is not null) ReleaseSharedLegacy(copy => copy.OnReset(), $"a {kind}");
        _reservations.OnReset();
        // Every nexus learns of it on its next command (SAM-5 §6.3.3, §7.6): a logical unit reset is a "bus device
        // reset function"; a target reset resets the whole device.
        _unitAttentions.EstablishForAll(kind == LogicalUnitResetKind.LogicalUnitReset
            ? UnitAttentions.BusDeviceResetFunction : UnitAttentions.PowerOnOrReset);
        _logger.LogInformation("Logical unit {Identity} reset ({Kind}).", Identity, kind);
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken) => _store.FlushAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_store is Stores.IExternallyGrowingStore growing) growing.MediumGrown -= OnMediumGrown;
        DetachSharedReservations();
        DetachSharedAccessStates();
        await StopSanitizeAsync().ConfigureAwait(false);
        try { await _store.FlushAsync(CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (IsMediumFailure(e)) { _logger.LogWarning(e, "Flushing {Store} at shutdown failed.", _store.Describe()); }
        if (_ownsStore) await _store.DisposeAsync().ConfigureAwait(false);
    }

    private bool IsSupported(byte opcode) => _supportedOpcodes[opcode];

    // ---- shared helpers ----

    private static ValueTask<ScsiCommandResult> Done(ScsiCommandResult result) => new(result);

    private static ScsiCommandResult Check(SenseCondition condition) =>
        ScsiCommandResult.CheckCondition(SenseBuilder.Fixed(condition));

    private static ScsiCommandResult CheckAt(SenseCondition condition, int cdbByte, int? bit = null) =>
        ScsiCommandResult.CheckCondition(SenseBuilder.CdbField(condition, cdbByte, bit));

    private static ScsiCommandResult InvalidField(int cdbByte, int? bit = null) =>
        CheckAt(SenseCondition.InvalidFieldInCdb, cdbByte, bit);

    private static ScsiCommandResult OutOfRange() => Check(SenseCondition.LogicalBlockAddressOutOfRange);

    /// <summary>True when [lba, lba + blocks) lies on the medium (computed without overflow).</summary>
    private bool InRange(ulong lba, ulong blocks) => lba <= (ulong)BlockCount && blocks <= (ulong)BlockCount - lba;

    private static bool IsMediumFailure(Exception e) =>
        e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException;

    /// <summary>The LBA and block count of a 6/10/12/16-byte READ/WRITE/VERIFY-style CDB, and where the count sits.</summary>
    private static (ulong Lba, ulong Blocks, int LengthField) DecodeLbaAndLength(ReadOnlySpan<byte> cdb) => cdb.Length switch
    {
        // 21-bit LBA; a TRANSFER LENGTH of 0 means 256 blocks (SBC-4 §5.15).
        6 => ((ulong)(cdb[1] & 0x1F) << 16 | (ulong)cdb[2] << 8 | cdb[3], cdb[4] == 0 ? 256UL : cdb[4], 4),
        10 => (BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]), 7),
        12 => (BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]), 6),
        _ => (BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]), BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), 10),
    };

    /// <summary>Copies at most <paramref name="allocationLength"/> bytes of <paramref name="data"/> to the initiator.</summary>
    private static ScsiCommandResult SendData(IScsiTask task, ReadOnlySpan<byte> data, int allocationLength)
    {
        int n = Math.Min(data.Length, allocationLength);
        if (n > 0) data[..n].CopyTo(task.GetDataInBuffer(n).Span);
        return ScsiCommandResult.Good(dataInLength: n);
    }
}
