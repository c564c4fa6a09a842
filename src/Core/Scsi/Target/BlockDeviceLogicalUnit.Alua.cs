using System.Buffers.Binary;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

// Asymmetric logical unit access (SPC-4 §5.15): the per-state command filter, REPORT and SET TARGET PORT GROUPS. The
// states belong to the target (IScsiTask.AccessStates); the group of a command is its nexus's TPGT.
public sealed partial class BlockDeviceLogicalUnit
{
    /// <summary>Largest SET TARGET PORT GROUPS parameter list taken: the header and 1024 descriptors.</summary>
    private const int MaxSetTargetPortGroupsLength = 4 + 4 * 1024;

    /// <summary>HARDWARE ERROR / SET TARGET PORT GROUPS COMMAND FAILED (SPC-4 §6.46).</summary>
    private static readonly SenseCondition SetTargetPortGroupsFailed = new(0x04, 0x67, 0x0A);

    /// <summary>A group's state changed: every other nexus that used this unit is told (2Ah/06h).</summary>
    public void OnAsymmetricAccessStateChanged(ItNexus? except) =>
        _unitAttentions.EstablishForAll(UnitAttentions.AsymmetricAccessStateChanged, except);

    /// <summary>The condition a command ends with for the access state of its port group, or null (the common case, one field read).</summary>
    private static SenseCondition? AccessStateRefusal(IScsiTask task, ReadOnlySpan<byte> cdb) =>
        task.AccessStates is { AllActive: false } alua
            ? AccessStateCommandFilter.Refusal(alua.StateOf(task.Nexus.Tpgt), cdb)
            : null;

    /// <summary>What REQUEST SENSE reports through a group that is not accessible, or null.</summary>
    private static SenseCondition? AccessStateCondition(IScsiTask task) =>
        task.AccessStates is { AllActive: false } alua ? AccessStateCommandFilter.NotAccessible(alua.StateOf(task.Nexus.Tpgt)) : null;

    private ScsiCommandResult ReportTargetPortGroups(IScsiTask task, AsymmetricAccessStates alua, ReadOnlySpan<byte> cdb)
    {
        int format = cdb[1] >> 5;
        if (format is not (TargetPortGroupsReport.LengthOnlyFormat or TargetPortGroupsReport.ExtendedFormat)) return InvalidField(1, 7);
        int allocation = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]), int.MaxValue);
        var data = TargetPortGroupsReport.Build(GroupsToReport(alua), format == TargetPortGroupsReport.ExtendedFormat);
        return SendData(task, data, allocation);
    }

    private ValueTask<ScsiCommandResult> MaintenanceOut(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        if (task.AccessStates is not { } alua) return Done(CheckAt(SenseCondition.InvalidCommandOperationCode, 0));
        if ((cdb[1] & 0x1F) != SbcOpcode.TargetPortGroupsAction) return InvalidFieldDone(1, 4);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]);
        if (length == 0) return Done(ScsiCommandResult.Good()); // no descriptors: nothing to change (SPC-4 §6.46)
        if (length < 4 || (length - 4) % 4 != 0 || length > MaxSetTargetPortGroupsLength || length > task.ExpectedDataOutLength)
            return Done(Check(SenseCondition.ParameterListLengthError));
        return SetTargetPortGroupsAsync(task, alua, (int)length, cancellationToken);
    }

    /// <summary>
    /// SET TARGET PORT GROUPS: descriptors of 4 bytes after a 4-byte header (state, reserved, group). Every descriptor is
    /// checked before any group changes, so a bad list changes nothing. Over a shared store the command completes once the
    /// other targets of the medium have the new states.
    /// </summary>
    private async ValueTask<ScsiCommandResult> SetTargetPortGroupsAsync(IScsiTask task, AsymmetricAccessStates alua, int length,
        CancellationToken cancellationToken)
    {
        var list = await task.ReceiveDataOutAsync(length, cancellationToken).ConfigureAwait(false);
        var changes = new List<(ushort Group, AluaState State)>((length - 4) / 4);
        for (int p = 4; p < length; p += 4)
        {
            var d = list.Span.Slice(p, 4);
            var state = (AluaState)(d[0] & 0x0F);
            // An initiator may ask for the states it can use; transitioning is the target's own.
            if (state is not (AluaState.ActiveOptimized or AluaState.ActiveNonOptimized or AluaState.Standby or AluaState.Unavailable))
                return ScsiCommandResult.CheckCondition(SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, p, 3), dataOutLength: length);
            ushort group = BinaryPrimitives.ReadUInt16BigEndian(d[2..]);
            if (!alua.Contains(group))
                return ScsiCommandResult.CheckCondition(SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, p + 2), dataOutLength: length);
            changes.Add((group, state));
        }
        alua.SetByCommand(changes, task.Nexus);
        if (_sharedAccess is not null)
        {
            try { await PublishAccessStatesAsync(cancellationToken).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                // The states changed here; the other targets did not learn it (SPC-4 §6.46: the command failed).
                _logger.LogError(e, "SET TARGET PORT GROUPS from {Nexus} on {Identity}: the new states could not be shared.", task.Nexus, Identity);
                return ScsiCommandResult.CheckCondition(SenseBuilder.Fixed(SetTargetPortGroupsFailed), dataOutLength: length);
            }
        }
        return ScsiCommandResult.Good(dataOutLength: length);
    }
}
