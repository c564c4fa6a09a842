namespace Iser.Transport.Iser.Fallback;

/// <summary>Which transport an initiator uses.</summary>
public enum TransportKind
{
    /// <summary>iSCSI over TCP.</summary>
    Tcp,
    /// <summary>iSER only; fails when there is no RDMA path.</summary>
    Iser,
    /// <summary>iSER when it can connect, else TCP, with the reason logged.</summary>
    Auto,
}
