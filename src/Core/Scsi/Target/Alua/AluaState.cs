namespace Iser.Core.Scsi.Target.Alua;

/// <summary>
/// The asymmetric access state of a target port group (SPC-4 §5.15.2), with the values the ASYMMETRIC ACCESS STATE field
/// of REPORT and SET TARGET PORT GROUPS carries.
/// </summary>
public enum AluaState : byte
{
    ActiveOptimized = 0x0,
    ActiveNonOptimized = 0x1,
    Standby = 0x2,
    Unavailable = 0x3,
    Transitioning = 0xF,
}

/// <summary>Names of <see cref="AluaState"/> as the CLI and the config file spell them.</summary>
public static class AluaStateNames
{
    public const string Choices = "active-optimized, active-non-optimized, standby, unavailable, transitioning";

    public static string Name(this AluaState state) => state switch
    {
        AluaState.ActiveOptimized => "active-optimized",
        AluaState.ActiveNonOptimized => "active-non-optimized",
        AluaState.Standby => "standby",
        AluaState.Unavailable => "unavailable",
        AluaState.Transitioning => "transitioning",
        _ => $"0x{(byte)state:X}",
    };

    public static bool TryParse(string text, out AluaState state)
    {
        foreach (var s in (ReadOnlySpan<AluaState>)[AluaState.ActiveOptimized, AluaState.ActiveNonOptimized, AluaState.Standby, AluaState.Unavailable, AluaState.Transitioning])
        {
            if (string.Equals(text.Trim(), s.Name(), StringComparison.OrdinalIgnoreCase)) { state = s; return true; }
        }
        state = default;
        return false;
    }

    /// <summary>Active/optimized and active/non-optimized: every command is allowed.</summary>
    public static bool IsActive(this AluaState state) => state is AluaState.ActiveOptimized or AluaState.ActiveNonOptimized;
}
