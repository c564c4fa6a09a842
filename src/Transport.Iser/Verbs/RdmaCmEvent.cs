using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// A copy of one rdma_cm event, taken before the event is acknowledged (after rdma_ack_cm_event
/// the native event and its private data are gone).
/// </summary>
public sealed class RdmaCmEvent
{
    private RdmaCmEvent(RdmaCmEventType type, int status, IntPtr id, IntPtr listenId, byte[] privateData, byte responderResources, byte initiatorDepth)
    {
        Type = type;
        Status = status;
        IdPointer = id;
        ListenIdPointer = listenId;
        PrivateData = privateData;
        ResponderResources = responderResources;
        InitiatorDepth = initiatorDepth;
    }

    public RdmaCmEventType Type { get; }

    /// <summary>0, a negative errno, or (for REJECTED) the transport's reject reason.</summary>
    public int Status { get; }

    /// <summary>
    /// The private data the peer sent with its connect request, accept or reject. Over IB/RoCE the
    /// CM pads it to the message's fixed size, so it may be longer than what the peer passed.
    /// </summary>
    public byte[] PrivateData { get; }

    /// <summary>
    /// CONNECT_REQUEST, ESTABLISHED: RDMA READs the peer may have outstanding against this side. The CM reports the
    /// peer's parameters from this side's view: this is the peer's initiator_depth.
    /// </summary>
    public byte ResponderResources { get; }

    /// <summary>CONNECT_REQUEST, ESTABLISHED: RDMA READs this side may issue; the peer's responder_resources.</summary>
    public byte InitiatorDepth { get; }

    internal IntPtr IdPointer { get; }

    internal IntPtr ListenIdPointer { get; }

    /// <summary>librdmacm's name for the event type, e.g. "RDMA_CM_EVENT_ESTABLISHED".</summary>
    public string TypeName => EventName(Type);

    /// <summary>"RDMA_CM_EVENT_REJECTED (status 28)" or with the errno text for negative statuses.</summary>
    public override string ToString() => Status switch
    {
        0 => TypeName,
        < 0 => $"{TypeName} ({VerbsException.ErrnoText(-Status)}, status {Status})",
        _ => $"{TypeName} (status {Status})",
    };

    /// <summary>The rdma_cma.h enumerator name (what rdma_event_str prints), e.g. "RDMA_CM_EVENT_ADDR_RESOLVED".</summary>
    public static string EventName(RdmaCmEventType type) =>
        Enum.IsDefined(type)
            ? "RDMA_CM_EVENT_" + System.Text.RegularExpressions.Regex.Replace(type.ToString(), "(?<=[a-z])(?=[A-Z])", "_").ToUpperInvariant()
            : $"RDMA_CM_EVENT_({(int)type})";

    internal static unsafe RdmaCmEvent Copy(RdmaCmEventNative* native)
    {
        RdmaCmEventType type = (RdmaCmEventType)native->Event;

        // param.conn is valid for connection events; for others its bytes are unrelated (ud/zero).
        bool hasConnParam = type is RdmaCmEventType.ConnectRequest or RdmaCmEventType.ConnectResponse
            or RdmaCmEventType.Established or RdmaCmEventType.Rejected;
        byte[] privateData = [];
        byte responder = 0;
        byte initiator = 0;
        if (hasConnParam)
        {
            RdmaConnParam conn = native->Conn;
            if (conn.PrivateData != null && conn.PrivateDataLen > 0)
            {
                privateData = new ReadOnlySpan<byte>(conn.PrivateData, conn.PrivateDataLen).ToArray();
            }

            responder = conn.ResponderResources;
            initiator = conn.InitiatorDepth;
        }

        return new RdmaCmEvent(type, native->Status, native->Id, native->ListenId, privateData, responder, initiator);
    }
}
