namespace Iser.Transport.Iser.Verbs;

/// <summary>The state of one device port (from ibv_query_port).</summary>
public sealed record PortAttributes(
    int State,
    int MaxMtuBytes,
    int ActiveMtuBytes,
    int GidTableLength,
    uint MaxMessageSize,
    int LinkLayer)
{
    /// <summary>IBV_PORT_ACTIVE: the port can carry traffic.</summary>
    public bool IsActive => State == NativeLayout.Values.IbvPortActive;

    /// <summary>IBV_LINK_LAYER_ETHERNET: RoCE (what soft-RoCE, rxe, provides).</summary>
    public bool IsEthernet => LinkLayer == NativeLayout.Values.IbvLinkLayerEthernet;

    /// <summary>enum ibv_mtu (1 = 256 ... 5 = 4096) to bytes; 0 for unknown values.</summary>
    internal static int MtuBytes(int mtu) => mtu is >= 1 and <= 5 ? 128 << mtu : 0;
}
