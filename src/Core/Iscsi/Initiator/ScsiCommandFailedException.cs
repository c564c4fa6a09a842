namespace Iser.Core.Iscsi.Initiator;

/// <summary>A SCSI command completed with a status other than GOOD; the message carries status and decoded sense.</summary>
public sealed class ScsiCommandFailedException : IscsiException
{
    public ScsiResponse Response { get; }

    public ScsiCommandFailedException(string operation, ScsiResponse response)
        : base($"{operation} failed: {response.Describe()}.") => Response = response;
}
