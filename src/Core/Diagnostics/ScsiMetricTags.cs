using Iser.Core.Scsi.Target;

namespace Iser.Core.Diagnostics;

/// <summary>
/// Tag values shared by the initiator's and the target's instruments, made once: a tag's value is an object, and boxing
/// a LUN number or building an operation name per command would allocate on the hot path.
/// </summary>
internal static class ScsiMetricTags
{
    public const string Operation = "scsi.operation";
    public const string Lun = "scsi.lun";
    public const string Direction = "iser.io.direction";
    public const string Read = "read";
    public const string Write = "write";
    public const string Other = "other";

    private static readonly object[] s_luns = Enumerable.Range(0, 256).Select(i => (object)i).ToArray();

    public static object LunValue(int lun) => (uint)lun < (uint)s_luns.Length ? s_luns[lun] : lun;

    /// <summary>read, write or other, from the CDB's operation code (SBC's READ and WRITE families, 6 to 16 bytes).</summary>
    public static string OperationOf(byte opcode) => opcode switch
    {
        SbcOpcode.Read6 or SbcOpcode.Read10 or SbcOpcode.Read12 or SbcOpcode.Read16 => Read,
        SbcOpcode.Write6 or SbcOpcode.Write10 or SbcOpcode.Write12 or SbcOpcode.Write16 => Write,
        _ => Other,
    };
}
