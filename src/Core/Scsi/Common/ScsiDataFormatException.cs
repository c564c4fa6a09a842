namespace Iser.Core.Scsi;

/// <summary>
/// SCSI parameter data (INQUIRY, VPD, READ CAPACITY, REPORT LUNS, sense) that is too short or inconsistent to
/// decode. The message says which structure, how many bytes arrived and how many were needed.
/// </summary>
public sealed class ScsiDataFormatException : FormatException
{
    public ScsiDataFormatException(string message) : base(message) { }

    /// <summary>Throws when <paramref name="actual"/> is below <paramref name="required"/>.</summary>
    internal static void ThrowIfShorter(string what, int actual, int required, string neededFor)
    {
        if (actual < required)
            throw new ScsiDataFormatException(
                $"{what} is {actual} byte{(actual == 1 ? "" : "s")} long; at least {required} are needed for {neededFor}.");
    }
}
