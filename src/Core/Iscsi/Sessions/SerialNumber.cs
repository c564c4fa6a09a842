namespace Iser.Core.Iscsi.Sessions;

/// <summary>32-bit serial number arithmetic (RFC 1982) used for CmdSN, StatSN, DataSN and R2TSN (RFC 7143 §4.2.2.1).</summary>
public static class SerialNumber
{
    /// <summary>a &lt; b in serial arithmetic (undefined distance 2^31 counts as not less).</summary>
    public static bool LessThan(uint a, uint b) => a != b && (int)(a - b) < 0;
    public static bool GreaterThan(uint a, uint b) => a != b && (int)(a - b) > 0;
    public static bool LessOrEqual(uint a, uint b) => a == b || LessThan(a, b);
    public static bool GreaterOrEqual(uint a, uint b) => a == b || GreaterThan(a, b);
    /// <summary>True when <paramref name="value"/> lies in [low, high] in serial arithmetic.</summary>
    public static bool InWindow(uint value, uint low, uint high) => GreaterOrEqual(value, low) && LessOrEqual(value, high);
}
