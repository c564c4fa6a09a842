namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// What a reservation command came to: its status (GOOD, RESERVATION CONFLICT, or CHECK CONDITION with
/// <see cref="Sense"/>), and what the logical unit has to do for other nexuses: establish
/// <see cref="UnitAttentions"/>, abort the tasks of <see cref="AbortTasksOf"/> (PREEMPT AND ABORT; never the
/// PERSISTENT RESERVE OUT task itself), and save the APTPL image when <see cref="PersistentStateChanged"/>.
/// </summary>
public readonly struct PrOutcome
{
    private readonly IReadOnlyList<PrUnitAttention>? _unitAttentions;
    private readonly IReadOnlyList<ItNexusPattern>? _abortTasksOf;

    private PrOutcome(ScsiStatus status, SenseCondition sense, PrSenseField? field,
        IReadOnlyList<PrUnitAttention>? unitAttentions, IReadOnlyList<ItNexusPattern>? abortTasksOf, bool persistentStateChanged)
    {
        Status = status;
        Sense = sense;
        Field = field;
        _unitAttentions = unitAttentions;
        _abortTasksOf = abortTasksOf;
        PersistentStateChanged = persistentStateChanged;
    }

    public ScsiStatus Status { get; }

    /// <summary>Sense key, ASC and ASCQ; meaningful with CHECK CONDITION only.</summary>
    public SenseCondition Sense { get; }

    /// <summary>The CDB or parameter list field an ILLEGAL REQUEST points at, when there is one.</summary>
    public PrSenseField? Field { get; }

    public IReadOnlyList<PrUnitAttention> UnitAttentions => _unitAttentions ?? [];

    /// <summary>PREEMPT AND ABORT: the nexuses whose tasks are to be aborted (SPC-4 §5.13.11.2.6).</summary>
    public IReadOnlyList<ItNexusPattern> AbortTasksOf => _abortTasksOf ?? [];

    /// <summary>
    /// Registrations, the reservation or APTPL changed while APTPL was (or became) active: save the state with
    /// <see cref="PersistentReservationFile.Save"/> before completing the command.
    /// </summary>
    public bool PersistentStateChanged { get; }

    public bool IsGood => Status == ScsiStatus.Good;

    public static PrOutcome Good => default;

    public static PrOutcome ReservationConflict => new(ScsiStatus.ReservationConflict, default, null, null, null, false);

    public static PrOutcome CheckCondition(SenseCondition sense, PrSenseField? field = null) =>
        new(ScsiStatus.CheckCondition, sense, field, null, null, false);

    public static PrOutcome InvalidFieldInCdb(int byteIndex, int? bit = null) =>
        CheckCondition(SenseCondition.InvalidFieldInCdb, new PrSenseField(true, byteIndex, bit));

    public static PrOutcome InvalidFieldInParameterList(int byteIndex, int? bit = null) =>
        CheckCondition(SenseCondition.InvalidFieldInParameterList, new PrSenseField(false, byteIndex, bit));

    public static PrOutcome ParameterListLengthError => CheckCondition(SenseCondition.ParameterListLengthError);

    internal static PrOutcome Succeeded(IReadOnlyList<PrUnitAttention>? unitAttentions, IReadOnlyList<ItNexusPattern>? abortTasksOf = null) =>
        new(ScsiStatus.Good, default, null, unitAttentions, abortTasksOf, false);

    internal PrOutcome WithPersistentStateChanged() =>
        new(Status, Sense, Field, _unitAttentions, _abortTasksOf, true);

    /// <summary>Fixed-format sense data for a CHECK CONDITION outcome.</summary>
    public byte[] BuildSense() => Field switch
    {
        { InCdb: true } f => SenseBuilder.CdbField(Sense, f.ByteIndex, f.Bit),
        { } f => SenseBuilder.ParameterField(Sense, f.ByteIndex, f.Bit),
        null => SenseBuilder.Fixed(Sense),
    };

    /// <summary>The command's result at the logical unit (status, sense, and the write data length the CDB called for).</summary>
    public ScsiCommandResult ToCommandResult(int dataOutLength = 0) => Status == ScsiStatus.CheckCondition
        ? ScsiCommandResult.CheckCondition(BuildSense(), dataOutLength: dataOutLength)
        : new ScsiCommandResult { Status = Status, DataOutLength = dataOutLength };

    public override string ToString() => Status == ScsiStatus.CheckCondition
        ? $"CHECK CONDITION {Sense.Key:X1}/{Sense.Asc:X2}/{Sense.Ascq:X2}{(Field is { } f ? $" at {(f.InCdb ? "CDB" : "parameter")} byte {f.ByteIndex}" : "")}"
        : Status.ToString();
}
