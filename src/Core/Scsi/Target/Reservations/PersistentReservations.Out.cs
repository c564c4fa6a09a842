namespace Iser.Core.Scsi.Target.Reservations;

public sealed partial class PersistentReservations
{
    /// <summary>
    /// PERSISTENT RESERVE OUT (SPC-4 §6.16, §5.13.7-§5.13.11) from <paramref name="nexus"/>, its CDB decoded by
    /// <see cref="PrOutCdb"/> and its parameter list by <see cref="PrOutParameterParser"/>. Atomic: a command that
    /// fails changes nothing. The caller establishes the outcome's unit attentions, aborts its tasks, saves the image
    /// when <see cref="PrOutcome.PersistentStateChanged"/>, and only then completes the command.
    /// </summary>
    /// <param name="targetPortExists">Whether a relative target port identifier names a port of the target the command
    /// came through (REGISTER AND MOVE's destination); null falls back to <see cref="PersistentReservationOptions.TargetPortExists"/>.</param>
    public PrOutcome Out(in ItNexus nexus, PrOutServiceAction action, PrType type, in PrOutParameters p, Func<ushort, bool>? targetPortExists = null)
    {
        if (!Enum.IsDefined(action)) return PrOutcome.InvalidFieldInCdb(1, 4);
        bool typed = action is PrOutServiceAction.Reserve or PrOutServiceAction.Preempt or PrOutServiceAction.PreemptAndAbort;
        if (typed && !type.IsValid()) return PrOutcome.InvalidFieldInCdb(2, 3);
        // APTPL sits in byte 20 of the basic list and byte 17 of REGISTER AND MOVE's (both bit 0).
        if (p.ActivatePersistThroughPowerLoss && !_options.PersistThroughPowerLossCapable)
            return PrOutcome.InvalidFieldInParameterList(action == PrOutServiceAction.RegisterAndMove ? 17 : 20, 0);

        lock (_gate)
        {
            // SPC-2 §5.5.1: while a RESERVE(6)/(10) is held every PERSISTENT RESERVE command conflicts.
            if (_legacyHolder.HasValue) return PrOutcome.ReservationConflict;

            long changesBefore = _changes;
            bool aptplBefore = _aptpl;
            var outcome = action switch
            {
                PrOutServiceAction.Register => Register(nexus, p, ignoreExistingKey: false),
                PrOutServiceAction.RegisterAndIgnoreExistingKey => Register(nexus, p, ignoreExistingKey: true),
                PrOutServiceAction.Reserve => Reserve(nexus, type, p),
                PrOutServiceAction.Release => Release(nexus, type, p),
                PrOutServiceAction.Clear => Clear(nexus, p),
                PrOutServiceAction.Preempt => Preempt(nexus, type, p, abort: false),
                PrOutServiceAction.PreemptAndAbort => Preempt(nexus, type, p, abort: true),
                _ => RegisterAndMove(nexus, p, targetPortExists ?? _options.TargetPortExists),
            };
            // RESERVE and RELEASE leave PRgeneration alone; the others bump it whenever they complete (SPC-4 §6.15.2).
            if (outcome.IsGood && action is not (PrOutServiceAction.Reserve or PrOutServiceAction.Release)) _generation++;
            Publish();
            return _changes != changesBefore && (aptplBefore || _aptpl) ? outcome.WithPersistentStateChanged() : outcome;
        }
    }

    /// <summary>REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7, register behaviour tables).</summary>
    private PrOutcome Register(in ItNexus nexus, in PrOutParameters p, bool ignoreExistingKey)
    {
        if (ignoreExistingKey && p.SpecifyInitiatorPorts) return PrOutcome.InvalidFieldInParameterList(20, 3);
        var registration = FindRegistration(nexus);
        if (registration is null)
        {
            if (!ignoreExistingKey && p.ReservationKey != 0) return PrOutcome.ReservationConflict;
            if (p.ServiceActionReservationKey == 0) return PrOutcome.Good; // nothing to register: GOOD, no change
            return RegisterNew(nexus, p);
        }
        if (!ignoreExistingKey && p.ReservationKey != registration.Key) return PrOutcome.ReservationConflict;
        // SPEC_I_PT from a registered nexus: registering others is only for a nexus registering itself.
        if (p.SpecifyInitiatorPorts) return PrOutcome.InvalidFieldInParameterList(20, 3);
        SetAptpl(p.ActivatePersistThroughPowerLoss);
        if (p.ServiceActionReservationKey == 0) return Unregister(registration, nexus);
        SetKey(registration, p.ServiceActionReservationKey);
        return PrOutcome.Good;
    }

    /// <summary>Registers an unregistered nexus, with ALL_TG_PT through every target port, and with SPEC_I_PT the ports listed: all or none.</summary>
    private PrOutcome RegisterNew(in ItNexus nexus, in PrOutParameters p)
    {
        ushort? port = p.AllTargetPorts ? null : nexus.RelativeTargetPortId;
        var own = new ItNexusPattern(nexus.InitiatorName, nexus.Isid, port);
        if (Overlapping(own) is not null) return PrOutcome.InvalidFieldInParameterList(20, 2); // ALL_TG_PT over a registered port
        var added = new List<ItNexusPattern> { own };
        if (p.SpecifyInitiatorPorts)
        {
            foreach (var id in p.TransportIds)
            {
                var other = new ItNexusPattern(id.Name, id.Isid, port);
                if (other.Equals(own)) continue; // names the issuing port itself, which this command registers anyway
                // A port named twice, or one already registered, would be registered twice (SPC-4 §5.13.7).
                if (added.Exists(a => a.Overlaps(other)) || Overlapping(other) is not null)
                    return PrOutcome.InvalidFieldInParameterList(PrOutParameterParser.BasicLength);
                added.Add(other);
            }
        }
        if (_registrations.Count + added.Count > _options.MaxRegistrations)
            return PrOutcome.CheckCondition(PrSense.InsufficientRegistrationResources);
        foreach (var a in added) AddRegistration(a, p.ServiceActionReservationKey);
        SetAptpl(p.ActivatePersistThroughPowerLoss);
        return PrOutcome.Good;
    }

    /// <summary>
    /// Unregistering (SPC-4 §5.13.11.3): the holder's going releases the reservation, with RESERVATIONS RELEASED for
    /// the remaining registrants under a registrants-only type; an all-registrants reservation lasts until the last
    /// registrant goes.
    /// </summary>
    private PrOutcome Unregister(Registration registration, in ItNexus issuer)
    {
        bool wasHolder = IsHolder(registration);
        RemoveRegistration(registration);
        if (!wasHolder) return PrOutcome.Good;
        if (_type.IsAllRegistrants())
        {
            if (_registrations.Count == 0) ClearReservation();
            return PrOutcome.Good;
        }
        var released = _type;
        ClearReservation();
        return released.IsRegistrantsOnly()
            ? PrOutcome.Succeeded(ToEveryRegistrant(issuer, PrSense.ReservationsReleased))
            : PrOutcome.Good;
    }

    /// <summary>RESERVE (SPC-4 §5.13.9): a registered nexus with its key; the holder asking again for the same type is GOOD.</summary>
    private PrOutcome Reserve(in ItNexus nexus, PrType type, in PrOutParameters p)
    {
        var registration = FindRegistration(nexus);
        if (registration is null || registration.Key != p.ReservationKey) return PrOutcome.ReservationConflict;
        if (_type != PrType.None)
            return IsHolder(registration) && _type == type ? PrOutcome.Good : PrOutcome.ReservationConflict;
        SetReservation(type, registration);
        return PrOutcome.Good;
    }

    /// <summary>
    /// RELEASE (SPC-4 §5.13.11.2.2): only the holder releases, naming the reservation's type; from a registrant that
    /// does not hold it, or with no reservation, it is GOOD and changes nothing.
    /// </summary>
    private PrOutcome Release(in ItNexus nexus, PrType type, in PrOutParameters p)
    {
        var registration = FindRegistration(nexus);
        if (registration is null || registration.Key != p.ReservationKey) return PrOutcome.ReservationConflict;
        if (!IsHolder(registration)) return PrOutcome.Good;
        if (type != _type) return PrOutcome.CheckCondition(PrSense.InvalidReleaseOfPersistentReservation);
        var released = _type;
        ClearReservation();
        return released.AdmitsRegistrants()
            ? PrOutcome.Succeeded(ToEveryRegistrant(nexus, PrSense.ReservationsReleased))
            : PrOutcome.Good;
    }

    /// <summary>CLEAR (SPC-4 §5.13.11.2.7): the reservation and every registration go; the others hear RESERVATIONS PREEMPTED.</summary>
    private PrOutcome Clear(in ItNexus nexus, in PrOutParameters p)
    {
        var registration = FindRegistration(nexus);
        if (registration is null || registration.Key != p.ReservationKey) return PrOutcome.ReservationConflict;
        var unitAttentions = ToEveryRegistrant(nexus, PrSense.ReservationsPreempted);
        ClearReservation();
        while (_registrations.Count > 0) RemoveRegistration(_registrations[^1]);
        return PrOutcome.Succeeded(unitAttentions);
    }

    /// <summary>
    /// PREEMPT and PREEMPT AND ABORT (SPC-4 §5.13.11.4): take over the reservation when the service action
    /// key is the holder's (or is 0 under an all-registrants type), otherwise just remove the registrations with that
    /// key. PREEMPT AND ABORT also names the nexuses whose tasks are to be aborted (§5.13.11.2.6).
    /// </summary>
    private PrOutcome Preempt(in ItNexus nexus, PrType type, in PrOutParameters p, bool abort)
    {
        var issuer = FindRegistration(nexus);
        if (issuer is null || issuer.Key != p.ReservationKey) return PrOutcome.ReservationConflict;
        ulong key = p.ServiceActionReservationKey;
        var unitAttentions = new List<PrUnitAttention>();
        List<ItNexusPattern>? aborted = abort ? [] : null;

        bool takeOver = _type.IsAllRegistrants() ? key == 0 : _type != PrType.None && _holder!.Key == key;
        if (takeOver)
        {
            // Key 0 under all registrants preempts everyone; otherwise those holding the key, the issuer excepted.
            foreach (var r in _registrations.ToArray())
            {
                if (key != 0 && r.Key != key) continue;
                aborted?.Add(r.Nexuses);
                if (ReferenceEquals(r, issuer)) continue;
                RemoveRegistration(r);
                unitAttentions.Add(new PrUnitAttention(r.Nexuses, nexus, PrSense.RegistrationsPreempted));
            }
            var previous = _type;
            SetReservation(type, issuer);
            if (previous != type) unitAttentions.AddRange(ToEveryRegistrant(nexus, PrSense.ReservationsReleased));
            return PrOutcome.Succeeded(unitAttentions, aborted);
        }

        // Removing registrations (§5.13.11.4.4): the reservation, if any, is untouched and SCOPE and TYPE are ignored.
        if (key == 0) return PrOutcome.InvalidFieldInParameterList(8);
        var victims = _registrations.FindAll(r => r.Key == key);
        if (victims.Count == 0) return PrOutcome.ReservationConflict;
        foreach (var r in victims)
        {
            aborted?.Add(r.Nexuses);
            RemoveRegistration(r);
            unitAttentions.Add(new PrUnitAttention(r.Nexuses, nexus, PrSense.RegistrationsPreempted));
        }
        if (_type.IsAllRegistrants() && _registrations.Count == 0) ClearReservation();
        return PrOutcome.Succeeded(unitAttentions, aborted);
    }

    /// <summary>
    /// REGISTER AND MOVE (SPC-4 §5.13.8): the holder registers the nexus a TransportID and relative target port name
    /// with the service action key, hands it the reservation (same type), and with UNREG unregisters itself.
    /// </summary>
    private PrOutcome RegisterAndMove(in ItNexus nexus, in PrOutParameters p, Func<ushort, bool>? targetPortExists)
    {
        var source = FindRegistration(nexus);
        if (source is null || source.Key != p.ReservationKey) return PrOutcome.ReservationConflict;
        if (p.ServiceActionReservationKey == 0) return PrOutcome.InvalidFieldInParameterList(8);
        if (_type == PrType.None) return PrOutcome.CheckCondition(SenseCondition.InvalidFieldInCdb);
        // Under all registrants there is no single holder to move (and every registrant holds anyway).
        if (_type.IsAllRegistrants() || !ReferenceEquals(source, _holder)) return PrOutcome.ReservationConflict;
        if (p.TransportIds.Count != 1) return PrOutcome.InvalidFieldInParameterList(20);

        var id = p.TransportIds[0];
        if (string.Equals(id.Name, nexus.InitiatorName, StringComparison.OrdinalIgnoreCase) && (id.Isid is null || id.Isid == nexus.Isid))
            return PrOutcome.InvalidFieldInParameterList(PrOutParameterParser.BasicLength); // the issuing port itself
        if (p.RelativeTargetPortId == 0 || !(targetPortExists?.Invoke(p.RelativeTargetPortId) ?? true))
            return PrOutcome.InvalidFieldInParameterList(18);

        var destination = new ItNexusPattern(id.Name, id.Isid, p.RelativeTargetPortId);
        var target = _registrations.Find(r => r.Nexuses.Contains(destination));
        if (target is null)
        {
            // Partly registered already (say, one of its ports): registering it would register that part twice.
            if (Overlapping(destination) is not null) return PrOutcome.InvalidFieldInParameterList(PrOutParameterParser.BasicLength);
            if (_registrations.Count >= _options.MaxRegistrations) return PrOutcome.CheckCondition(PrSense.InsufficientRegistrationResources);
            AddRegistration(destination, p.ServiceActionReservationKey);
            target = _registrations[^1];
        }
        else if (ReferenceEquals(target, source))
        {
            return PrOutcome.InvalidFieldInParameterList(PrOutParameterParser.BasicLength); // the source registration covers it
        }
        else
        {
            SetKey(target, p.ServiceActionReservationKey);
        }
        SetReservation(_type, target);
        if (p.Unregister) RemoveRegistration(source);
        SetAptpl(p.ActivatePersistThroughPowerLoss);
        return PrOutcome.Good;
    }

    private Registration? Overlapping(in ItNexusPattern nexuses)
    {
        foreach (var r in _registrations)
            if (r.Nexuses.Overlaps(nexuses)) return r;
        return null;
    }

    /// <summary>One unit attention per registration, for all its nexuses but the issuer.</summary>
    private List<PrUnitAttention> ToEveryRegistrant(in ItNexus issuer, SenseCondition condition)
    {
        var list = new List<PrUnitAttention>(_registrations.Count);
        foreach (var r in _registrations) list.Add(new PrUnitAttention(r.Nexuses, issuer, condition));
        return list;
    }
}
