using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Reservations;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// Reservations (SPC-4 §5.13, SPC-2 §5.5.1) through the unit's <see cref="PersistentReservations"/>: every command is
/// checked against them before it runs (RESERVATION CONFLICT when it may not), PERSISTENT RESERVE IN and OUT,
/// RESERVE(6)/(10) and RELEASE(6)/(10). With <see cref="BlockDeviceOptions.PersistentReservationFile"/> the APTPL state
/// is saved there before the command that changed it completes.
/// </summary>
/// <remarks>
/// The unit attentions a PERSISTENT RESERVE OUT establishes for other nexuses (RESERVATIONS PREEMPTED, RESERVATIONS
/// RELEASED, REGISTRATIONS PREEMPTED) go to <see cref="UnitAttentions"/>; PREEMPT AND ABORT aborts the preempted
/// nexuses' tasks on this logical unit through <see cref="IScsiTask.AbortOtherTasksAsync"/> before it completes.
/// </remarks>
public sealed partial class BlockDeviceLogicalUnit
{
    /// <summary>The unit's reservation state (for diagnostics and tests).</summary>
    public PersistentReservations Reservations => _reservations;

    /// <summary>I_T nexus loss: the nexus's RESERVE(6)/(10) reservation goes; persistent reservations stay (SPC-4 §5.13.1).</summary>
    public void OnNexusLoss(in ItNexus nexus)
    {
        if (_sharedReservations is not null && _reservations.LegacyHolder is { } holder && holder.Equals(nexus))
            ReleaseSharedLegacy(copy => copy.OnNexusLoss(holder), $"the RESERVE holder {holder} ended");
        _reservations.OnNexusLoss(nexus);
        _copyResults.Forget(nexus); // kept EXTENDED COPY results belong to the nexus (SPC-4 §6.18.3)
        ReleasePrevention(nexus);
        _unitAttentions.Forget(nexus);
    }

    private static PersistentReservations LoadReservations(string? path)
    {
        var options = new PersistentReservationOptions { PersistThroughPowerLossCapable = path is not null };
        return (path is null ? null : PersistentReservationFile.Load(path, options)) ?? new PersistentReservations(options);
    }

    /// <summary>PERSISTENT RESERVE IN (SPC-4 §6.15): READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ FULL STATUS.</summary>
    private ScsiCommandResult PersistentReserveIn(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        int serviceAction = cdb[1] & 0x1F;
        if (serviceAction > (int)PrInServiceAction.ReadFullStatus) return InvalidField(1, 4);
        int allocation = BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        if (allocation == 0) return ScsiCommandResult.Good();
        int n = _reservations.In((PrInServiceAction)serviceAction, task.GetDataInBuffer(allocation).Span, allocation);
        return ScsiCommandResult.Good(dataInLength: n);
    }

    /// <summary>
    /// PERSISTENT RESERVE OUT (SPC-4 §6.16): the CDB is checked before the parameter list is fetched; the outcome's
    /// APTPL image is saved before the command completes.
    /// </summary>
    private ValueTask<ScsiCommandResult> PersistentReserveOut(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        if (!PrOutCdb.TryDecode(cdb, out var decoded, out var error)) return Done(error.ToCommandResult());
        return PersistentReserveOutAsync(task, decoded, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> PersistentReserveOutAsync(IScsiTask task, PrOutCdb cdb, CancellationToken cancellationToken)
    {
        int length = cdb.ParameterListLength;
        // Fewer bytes than the CDB announced (a short Expected Data Transfer Length) make a PARAMETER LIST LENGTH ERROR.
        int available = Math.Min(length, task.ExpectedDataOutLength);
        var list = available == 0 ? ReadOnlyMemory<byte>.Empty : await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (list.Length > available) list = list[..available];
        if (!PrOutParameterParser.TryParse(list.Span, cdb.ServiceAction, out var parameters, out var error))
            return error.ToCommandResult(length);

        var nexus = task.Nexus;
        // The target's ports are its portal groups (relative target port identifier = TPGT), which the target's
        // ALUA states list (and, over a shared store, the other gateways' groups); a unit outside a target takes any
        // nonzero identifier.
        var ports = task.AccessStates is { } alua ? TargetPortExists(alua) : null;
        PrOutcome outcome;
        if (_sharedReservations is { } shared)
        {
            try { outcome = await SharedOutAsync(shared, nexus, cdb, parameters, ports, cancellationToken).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                _logger.LogError(e, "PERSISTENT RESERVE OUT {Action} from {Nexus} on {Identity}: the shared reservation state could not be updated.",
                    cdb.ServiceAction, nexus, Identity);
                return Check(InternalTargetFailure);
            }
        }
        else
        {
            outcome = _reservations.Out(nexus, cdb.ServiceAction, cdb.Type, parameters, ports);
        }
        _logger.LogDebug("PERSISTENT RESERVE OUT {Action} type {Type} from {Nexus}: {Outcome}; now {State}.",
            cdb.ServiceAction, cdb.Type, nexus, outcome, _reservations);
        await ApplyOutAsync(outcome.UnitAttentions, outcome.AbortTasksOf, task.AbortOtherTasksAsync, nexus.ToString()).ConfigureAwait(false);
        if (outcome.PersistentStateChanged && _sharedReservations is null && !SaveReservations())
            return Check(InternalTargetFailure);
        return outcome.ToCommandResult(length);
    }

    /// <summary>
    /// What a PERSISTENT RESERVE OUT does to other nexuses, whichever target ran it: the unit attentions, and for PREEMPT
    /// AND ABORT the preempted nexuses' tasks here, ended before the command completes (SPC-4 §5.13.11.2.6).
    /// </summary>
    private async ValueTask ApplyOutAsync(IReadOnlyList<PrUnitAttention> unitAttentions, IReadOnlyList<ItNexusPattern> abortTasksOf,
        Func<Func<ItNexus, bool>, ValueTask<int>> abortTasks, string issuer)
    {
        if (unitAttentions.Count > 0) _unitAttentions.Establish(unitAttentions);
        if (abortTasksOf.Count == 0) return;
        int aborted = await abortTasks(n => abortTasksOf.Any(p => p.Covers(n))).ConfigureAwait(false);
        _logger.LogInformation("PREEMPT AND ABORT from {Issuer} on {Identity}: {Count} task(s) of the preempted nexuses aborted.", issuer, Identity, aborted);
    }

    /// <summary>RESERVE(6)/(10) and RELEASE(6)/(10) (SPC-2 §7.21, §7.20) for the whole logical unit.</summary>
    private ValueTask<ScsiCommandResult> LegacyReservation(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        byte opcode = cdb[0];
        bool ten = opcode is SbcOpcode.Reserve10 or SbcOpcode.Release10;
        // Third-party reservations (3RDPTY), their long TransportIDs (LONGID, RESERVE/RELEASE(10)) and extents are refused.
        if ((cdb[1] & 0x10) != 0) return Done(InvalidField(1, 4));
        if (ten && (cdb[1] & 0x02) != 0) return Done(InvalidField(1, 1));
        if ((cdb[1] & 0x01) != 0) return Done(InvalidField(1, 0));
        var nexus = task.Nexus;
        bool reserve = opcode is SbcOpcode.Reserve6 or SbcOpcode.Reserve10;
        if (_sharedReservations is { } shared) return SharedLegacyReservationAsync(shared, nexus, reserve, cancellationToken);
        var outcome = reserve ? _reservations.LegacyReserve(nexus) : _reservations.LegacyRelease(nexus);
        _logger.LogDebug("{Command} from {Nexus}: {Outcome}.", reserve ? "RESERVE" : "RELEASE", nexus, outcome);
        return Done(outcome.ToCommandResult());
    }

    /// <summary>Writes the APTPL image; false (logged) when the file cannot be written.</summary>
    private bool SaveReservations()
    {
        string? path = _options.PersistentReservationFile;
        if (path is null) return true; // not capable: APTPL never becomes active
        try
        {
            PersistentReservationFile.Save(path, _reservations);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(e, "Saving the persistent reservation state of {Identity} to {Path} failed.", Identity, path);
            return false;
        }
    }

    /// <summary>HARDWARE ERROR / INTERNAL TARGET FAILURE: the state changed but could not be made persistent.</summary>
    private static SenseCondition InternalTargetFailure => new(0x04, 0x44, 0x00);
}
