namespace Iser.Core.Scsi.Target.Alua;

/// <summary>
/// Which commands a logical unit runs through a target port group in a state that is not active (SPC-4 §5.15.2.4),
/// and the NOT READY condition the others end with.
/// </summary>
public static class AccessStateCommandFilter
{
    public static readonly SenseCondition AsymmetricAccessStateTransition = new(SenseCondition.KeyNotReady, 0x04, 0x0A);
    public static readonly SenseCondition TargetPortInStandby = new(SenseCondition.KeyNotReady, 0x04, 0x0B);
    public static readonly SenseCondition TargetPortUnavailable = new(SenseCondition.KeyNotReady, 0x04, 0x0C);

    // Not implemented here, but SPC-4 lets them through standby (they then end as unsupported commands).
    private const byte LogSelect = 0x4C, LogSense = 0x4D, ReceiveDiagnosticResults = 0x1C, SendDiagnostic = 0x1D;

    /// <summary>The condition a command ends with in <paramref name="state"/>, or null when it runs.</summary>
    public static SenseCondition? Refusal(AluaState state, ReadOnlySpan<byte> cdb)
    {
        if (state.IsActive() || cdb.IsEmpty) return null;
        if (AllowedInEveryState(cdb)) return null;
        return state switch
        {
            AluaState.Standby => AllowedInStandby(cdb[0]) ? null : TargetPortInStandby,
            AluaState.Unavailable => TargetPortUnavailable,
            _ => AsymmetricAccessStateTransition,
        };
    }

    /// <summary>The condition REQUEST SENSE reports in <paramref name="state"/> when nothing else is pending, or null.</summary>
    public static SenseCondition? NotAccessible(AluaState state) => state switch
    {
        AluaState.Standby => TargetPortInStandby,
        AluaState.Unavailable => TargetPortUnavailable,
        AluaState.Transitioning => AsymmetricAccessStateTransition,
        _ => null,
    };

    // Unavailable and transitioning allow only these; standby allows them too.
    private static bool AllowedInEveryState(ReadOnlySpan<byte> cdb)
    {
        switch (cdb[0])
        {
            case SbcOpcode.Inquiry:
            case SbcOpcode.ReportLuns:
            case SbcOpcode.RequestSense:
                return true;
            case SbcOpcode.MaintenanceIn:
                return cdb.Length > 1 && (cdb[1] & 0x1F) is SbcOpcode.TargetPortGroupsAction or SbcOpcode.ReportSupportedOperationCodesAction;
            case SbcOpcode.MaintenanceOut:
                return cdb.Length > 1 && (cdb[1] & 0x1F) == SbcOpcode.TargetPortGroupsAction;
            default:
                return false;
        }
    }

    private static bool AllowedInStandby(byte opcode) => opcode is
        SbcOpcode.ModeSense6 or SbcOpcode.ModeSense10 or SbcOpcode.ModeSelect6 or SbcOpcode.ModeSelect10
        or LogSense or LogSelect or SbcOpcode.PersistentReserveIn or SbcOpcode.PersistentReserveOut
        or ReceiveDiagnosticResults or SendDiagnostic;
}
