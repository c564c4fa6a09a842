namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// The reservation state of one logical unit: SPC-4 persistent reservations (§5.13: registrations, PRgeneration,
/// the reservation, APTPL) and the older RESERVE(6)/(10) reservation, which SPC-2 §5.5.1 makes exclusive of them
/// (this device server reports CRH 0). One lock guards it all; <see cref="CheckAccess"/> runs on every command and
/// neither allocates nor takes the lock while no reservation of either kind exists.
/// </summary>
/// <remarks>
/// A registration stands for every nexus of an <see cref="ItNexusPattern"/> (ALL_TG_PT, or a TransportID without
/// an ISID), and holding the reservation is a property of the registration, so every nexus it covers holds it.
/// The partial files hold PERSISTENT RESERVE OUT (.Out), PERSISTENT RESERVE IN (.In) and the APTPL image (.Image).
/// </remarks>
public sealed partial class PersistentReservations
{
    private readonly Lock _gate = new();
    private readonly PersistentReservationOptions _options;
    private readonly List<Registration> _registrations = [];
    private PrType _type;                 // None: no persistent reservation
    private Registration? _holder;        // the holder; null under an all-registrants type (every registrant holds)
    private bool _aptpl;
    private uint _generation;
    private long _changes;                // bumped by every change the APTPL image would show
    private ItNexus? _legacyHolder;       // RESERVE(6)/(10)
    private volatile bool _reserved;      // either kind of reservation exists: the only state CheckAccess reads unlocked

    public PersistentReservations(PersistentReservationOptions? options = null)
    {
        _options = options ?? new PersistentReservationOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxRegistrations, 1);
    }

    /// <summary>The initiator ports (and target ports) of the registrations now.</summary>
    public IReadOnlyList<ItNexusPattern> Registrants { get { lock (_gate) return [.. _registrations.Select(r => r.Nexuses)]; } }

    /// <summary>PRgeneration (SPC-4 §6.15.2).</summary>
    public uint Generation { get { lock (_gate) return _generation; } }

    /// <summary>The last valid APTPL bit: registrations and the reservation are to survive power loss.</summary>
    public bool PersistThroughPowerLoss { get { lock (_gate) return _aptpl; } }

    /// <summary>The persistent reservation's type, <see cref="PrType.None"/> when there is none.</summary>
    public PrType ReservationType { get { lock (_gate) return _type; } }

    public int RegistrationCount { get { lock (_gate) return _registrations.Count; } }

    /// <summary>Serialises saves of this state's image (see <see cref="PersistentReservationFile"/>).</summary>
    internal Lock SaveGate { get; } = new();

    /// <summary>
    /// Whether a command of class <paramref name="command"/> from <paramref name="nexus"/> may run (the SPC-4 and
    /// SBC-3 allowed-commands tables; SPC-2 §5.5.1 while a RESERVE(6)/(10) is held). <see cref="PrAccess.Conflict"/> means
    /// RESERVATION CONFLICT status. PERSISTENT RESERVE OUT and RESERVE/RELEASE still go through their own rules
    /// (<see cref="Out"/>, <see cref="LegacyReserve"/>, <see cref="LegacyRelease"/>) when this allows them.
    /// </summary>
    public PrAccess CheckAccess(in ItNexus nexus, ScsiCommandClass command)
    {
        if (!_reserved) return PrAccess.Allowed;
        lock (_gate)
        {
            if (_legacyHolder is { } holder)
                return ReservationConflictTable.UnderLegacyReservation(holder.Equals(nexus), command);
            if (_type == PrType.None) return PrAccess.Allowed;
            return ReservationConflictTable.UnderPersistentReservation(_type, RelationOf(nexus), command);
        }
    }

    /// <summary>
    /// RESERVE(6)/(10) (SPC-2 §7.21) for the whole logical unit. With CRH 0 it conflicts whenever any persistent
    /// registration exists, whoever sends it (SPC-2 §5.5.1). Third-party and extent reservations are the caller's
    /// to refuse (INVALID FIELD IN CDB) before calling.
    /// </summary>
    public PrOutcome LegacyReserve(in ItNexus nexus)
    {
        lock (_gate)
        {
            if (_registrations.Count > 0) return PrOutcome.ReservationConflict;
            if (_legacyHolder is { } holder && !holder.Equals(nexus)) return PrOutcome.ReservationConflict;
            _legacyHolder = nexus;
            Publish();
            return PrOutcome.Good;
        }
    }

    /// <summary>
    /// RELEASE(6)/(10): releases the holder's reservation; from any other nexus it is GOOD and changes nothing
    /// (SPC-2 §7.20). Conflicts, like RESERVE, while persistent registrations exist.
    /// </summary>
    public PrOutcome LegacyRelease(in ItNexus nexus)
    {
        lock (_gate)
        {
            if (_registrations.Count > 0) return PrOutcome.ReservationConflict;
            if (_legacyHolder is { } holder && holder.Equals(nexus))
            {
                _legacyHolder = null;
                Publish();
            }
            return PrOutcome.Good;
        }
    }

    /// <summary>
    /// LOGICAL UNIT RESET, a target reset, or a hard reset: a RESERVE(6)/(10) reservation is released (SPC-2 §5.5.1);
    /// persistent reservations and registrations are not affected by any reset (SPC-4 §5.13.1).
    /// </summary>
    public PrOutcome OnReset()
    {
        lock (_gate)
        {
            _legacyHolder = null;
            Publish();
            return PrOutcome.Good;
        }
    }

    /// <summary>I_T nexus loss: the nexus's RESERVE(6)/(10) reservation goes; persistent state stays.</summary>
    public PrOutcome OnNexusLoss(in ItNexus nexus)
    {
        lock (_gate)
        {
            if (_legacyHolder is { } holder && holder.Equals(nexus))
            {
                _legacyHolder = null;
                Publish();
            }
            return PrOutcome.Good;
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            string reservation = _legacyHolder is { } h ? $"RESERVE by {h}"
                : _type == PrType.None ? "no reservation"
                : $"{_type} held by {(_holder is null ? "every registrant" : _holder.Nexuses.ToString())}";
            return $"{_registrations.Count} registration(s), {reservation}, generation {_generation}, APTPL {(_aptpl ? 1 : 0)}";
        }
    }

    // ---- helpers, all called under _gate ----

    /// <summary>The registration covering <paramref name="nexus"/>; there is at most one, registering never overlaps.</summary>
    private Registration? FindRegistration(in ItNexus nexus)
    {
        foreach (var r in _registrations)
            if (r.Nexuses.Covers(nexus)) return r;
        return null;
    }

    private NexusRelation RelationOf(in ItNexus nexus)
    {
        var registration = FindRegistration(nexus);
        if (registration is null) return NexusRelation.NotRegistered;
        return IsHolder(registration) ? NexusRelation.Holder : NexusRelation.Registered;
    }

    private bool IsHolder(Registration registration) =>
        _type != PrType.None && (_type.IsAllRegistrants() || ReferenceEquals(registration, _holder));

    /// <summary>Makes the unlocked fast path of <see cref="CheckAccess"/> see the current state.</summary>
    private void Publish() => _reserved = _type != PrType.None || _legacyHolder.HasValue;

    private void AddRegistration(ItNexusPattern nexuses, ulong key)
    {
        _registrations.Add(new Registration(nexuses, key));
        _changes++;
    }

    private void SetKey(Registration registration, ulong key)
    {
        if (registration.Key == key) return;
        registration.Key = key;
        _changes++;
    }

    private void RemoveRegistration(Registration registration)
    {
        _registrations.Remove(registration);
        _changes++;
    }

    private void SetReservation(PrType type, Registration? holder)
    {
        _type = type;
        _holder = type.IsAllRegistrants() ? null : holder;
        _changes++;
    }

    private void ClearReservation()
    {
        if (_type == PrType.None) return;
        _type = PrType.None;
        _holder = null;
        _changes++;
    }

    private void SetAptpl(bool aptpl)
    {
        if (_aptpl == aptpl) return;
        _aptpl = aptpl;
        _changes++;
    }
}
