namespace Iser.Transport.Iser.Verbs;

/// <summary>An rdma_cm step ended with an unexpected event (rejected, unreachable, address error...); carries the event.</summary>
public sealed class RdmaCmEventException : Exception
{
    public RdmaCmEventException(string step, string detail, RdmaCmEvent cmEvent)
        : base($"{step} failed: {detail}")
    {
        Event = cmEvent;
    }

    public RdmaCmEvent Event { get; }
}
