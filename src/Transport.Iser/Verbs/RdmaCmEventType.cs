namespace Iser.Transport.Iser.Verbs;

/// <summary>enum rdma_cm_event_type, in header order.</summary>
public enum RdmaCmEventType
{
    AddrResolved = NativeLayout.Values.RdmaCmEventAddrResolved,
    AddrError,
    RouteResolved,
    RouteError,
    ConnectRequest = NativeLayout.Values.RdmaCmEventConnectRequest,
    ConnectResponse,
    ConnectError,
    Unreachable,
    Rejected,
    Established = NativeLayout.Values.RdmaCmEventEstablished,
    Disconnected = NativeLayout.Values.RdmaCmEventDisconnected,
    DeviceRemoval,
    MulticastJoin,
    MulticastError,
    AddrChange,
    TimewaitExit = NativeLayout.Values.RdmaCmEventTimewaitExit,
}
