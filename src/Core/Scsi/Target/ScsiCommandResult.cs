namespace Iser.Core.Scsi.Target;

/// <summary>
/// The outcome of a command at a logical unit. <see cref="DataInLength"/> / <see cref="DataOutLength"/> are the
/// lengths the command itself called for (from the CDB); the core compares them with the Expected Data Transfer
/// Length to set the iSCSI residual (RFC 7143 §11.4.5).
/// </summary>
public readonly struct ScsiCommandResult
{
    public ScsiStatus Status { get; init; }
    /// <summary>Bytes of read data the command produced (written to the data-in buffer).</summary>
    public int DataInLength { get; init; }
    /// <summary>Bytes of write data the command called for.</summary>
    public int DataOutLength { get; init; }
    /// <summary>Fixed-format sense data (SPC-4 §4.5.3), present with CHECK CONDITION.</summary>
    public ReadOnlyMemory<byte> Sense { get; init; }

    public static ScsiCommandResult Good(int dataInLength = 0, int dataOutLength = 0) =>
        new() { Status = ScsiStatus.Good, DataInLength = dataInLength, DataOutLength = dataOutLength };

    /// <summary>CHECK CONDITION carrying <paramref name="sense"/> (fixed format, see <see cref="SenseBuilder"/>).</summary>
    public static ScsiCommandResult CheckCondition(ReadOnlyMemory<byte> sense, int dataInLength = 0, int dataOutLength = 0) =>
        new() { Status = ScsiStatus.CheckCondition, Sense = sense, DataInLength = dataInLength, DataOutLength = dataOutLength };
}
