namespace Iser.Transport.Iser.Verbs;

/// <summary>enum ibv_access_flags (the members used for registration).</summary>
[Flags]
public enum MemoryAccess
{
    None = 0,
    LocalWrite = NativeLayout.Values.IbvAccessLocalWrite,
    RemoteWrite = NativeLayout.Values.IbvAccessRemoteWrite,
    RemoteRead = NativeLayout.Values.IbvAccessRemoteRead,

    /// <summary>What iSER buffers need: the peer may RDMA READ and WRITE them, the HCA may write received data.</summary>
    LocalAndRemoteReadWrite = LocalWrite | RemoteWrite | RemoteRead,
}
