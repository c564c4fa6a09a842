namespace Iser.Core.Scsi;

/// <summary>
/// A SCSI command that completed with a status other than GOOD / CONDITION MET, as the initiator library reports it.
/// The message is a sentence: the command, the status, and the decoded sense, e.g.
/// "READ(16) failed with CHECK CONDITION: ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)."
/// </summary>
public sealed class ScsiCommandException : Exception
{
    public ScsiStatus Status { get; }
    /// <summary>Decoded sense data, or null when the target sent none (or it could not be decoded).</summary>
    public SenseData? Sense { get; }
    /// <summary>The command's name, e.g. "READ(16)", or null if the caller did not say.</summary>
    public string? Command { get; }

    public ScsiCommandException(ScsiStatus status, SenseData? sense, string? command = null, Exception? innerException = null)
        : base(BuildMessage(status, sense, command), innerException)
    {
        Status = status;
        Sense = sense;
        Command = command;
    }

    /// <summary>Builds the exception from raw sense bytes; sense that cannot be decoded is said so in the message.</summary>
    public static ScsiCommandException FromRawSense(ScsiStatus status, ReadOnlySpan<byte> sense, string? command = null)
    {
        if (sense.IsEmpty) return new ScsiCommandException(status, null, command);
        try
        {
            return new ScsiCommandException(status, SenseData.Parse(sense), command);
        }
        catch (ScsiDataFormatException ex)
        {
            return new ScsiCommandException(status, null, command, ex);
        }
    }

    public SenseKey? SenseKey => Sense?.SenseKey;
    public AdditionalSenseCode? AdditionalSenseCode => Sense?.AdditionalSenseCode;

    private static string BuildMessage(ScsiStatus status, SenseData? sense, string? command)
    {
        string subject = command is null ? "The SCSI command" : command;
        string text = $"{subject} failed with {status.Name()}";
        if (sense is not null) return text + ": " + sense.DescribeDetailed() + ".";
        if (status == ScsiStatus.CheckCondition) return text + " and no usable sense data.";
        // Without sense, the status sentence is the explanation.
        var describe = status.Describe();
        int colon = describe.IndexOf(':');
        return colon > 0 ? text + ":" + describe[(colon + 1)..] : text + ".";
    }
}
