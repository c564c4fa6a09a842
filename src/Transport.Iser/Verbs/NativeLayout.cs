// Every size, field offset and enum value the rdma-core binding depends on, in one place.
// Measured on x86-64 with rdma-core 44 (Debian 12); native/probe/verbs_probe.c prints the same
// keys (Class.Constant) and tests/Iser.Tests/Verbs/NativeLayoutProbeTests.cs fails on any difference.
// Do not use a literal offset anywhere else in the binding.
namespace Iser.Transport.Iser.Verbs;

internal static class NativeLayout
{
    /// <summary>struct ibv_context; the *Slot values are absolute offsets of ops.poll_cq etc. (the ops table is embedded, not a pointer).</summary>
    internal static class IbvContext
    {
        internal const int Device = 0;
        internal const int Ops = 8;
        internal const int PollCqSlot = 96;
        internal const int ReqNotifyCqSlot = 104;
        internal const int PostSendSlot = 208;
        internal const int PostRecvSlot = 216;
        internal const int PostSrqRecvSlot = 168;
    }

    /// <summary>struct ibv_comp_channel.</summary>
    internal static class IbvCompChannel
    {
        internal const int Context = 0;
        internal const int Fd = 8;
    }

    /// <summary>struct ibv_cq.</summary>
    internal static class IbvCq
    {
        internal const int Context = 0;
        internal const int Cqe = 28;
    }

    /// <summary>struct ibv_pd.</summary>
    internal static class IbvPd
    {
        internal const int Context = 0;
    }

    /// <summary>struct ibv_mr.</summary>
    internal static class IbvMr
    {
        internal const int Size = 48;
        internal const int Addr = 16;
        internal const int Length = 24;
        internal const int Lkey = 36;
        internal const int Rkey = 40;
    }

    /// <summary>struct ibv_qp.</summary>
    internal static class IbvQp
    {
        internal const int Context = 0;
        internal const int QpNum = 52;
        internal const int State = 56;
    }

    /// <summary>struct ibv_sge.</summary>
    internal static class IbvSge
    {
        internal const int Size = 16;
        internal const int Addr = 0;
        internal const int Length = 8;
        internal const int Lkey = 12;
    }

    /// <summary>struct ibv_send_wr; RdmaRemoteAddr/RdmaRkey are wr.rdma inside the union at 40.</summary>
    internal static class IbvSendWr
    {
        internal const int Size = 128;
        internal const int WrId = 0;
        internal const int Next = 8;
        internal const int SgList = 16;
        internal const int NumSge = 24;
        internal const int Opcode = 28;
        internal const int SendFlags = 32;
        internal const int ImmData = 36;
        internal const int RdmaRemoteAddr = 40;
        internal const int RdmaRkey = 48;
    }

    /// <summary>struct ibv_recv_wr.</summary>
    internal static class IbvRecvWr
    {
        internal const int Size = 32;
        internal const int WrId = 0;
        internal const int Next = 8;
        internal const int SgList = 16;
        internal const int NumSge = 24;
    }

    /// <summary>struct ibv_wc.</summary>
    internal static class IbvWc
    {
        internal const int Size = 48;
        internal const int WrId = 0;
        internal const int Status = 8;
        internal const int Opcode = 12;
        internal const int VendorErr = 16;
        internal const int ByteLen = 20;
        internal const int ImmData = 24;
        internal const int QpNum = 28;
        internal const int WcFlags = 36;
    }

    /// <summary>struct ibv_qp_cap.</summary>
    internal static class IbvQpCap
    {
        internal const int Size = 20;
        internal const int MaxSendWr = 0;
        internal const int MaxRecvWr = 4;
        internal const int MaxSendSge = 8;
        internal const int MaxRecvSge = 12;
        internal const int MaxInlineData = 16;
    }

    /// <summary>struct ibv_qp_init_attr.</summary>
    internal static class IbvQpInitAttr
    {
        internal const int Size = 64;
        internal const int QpContext = 0;
        internal const int SendCq = 8;
        internal const int RecvCq = 16;
        internal const int Srq = 24;
        internal const int Cap = 32;
        internal const int QpType = 52;
        internal const int SqSigAll = 56;
    }

    /// <summary>struct ibv_srq_init_attr with its embedded struct ibv_srq_attr.</summary>
    internal static class IbvSrqInitAttr
    {
        internal const int Size = 24;
        internal const int SrqContext = 0;
        internal const int MaxWr = 8;
        internal const int MaxSge = 12;
        internal const int SrqLimit = 16;
    }

    /// <summary>struct ibv_qp_attr (only qp_state is written: the binding moves a QP to the error state).</summary>
    internal static class IbvQpAttr
    {
        internal const int Size = 144;
        internal const int QpState = 0;
    }

    /// <summary>struct ibv_device_attr (fields the binding reads).</summary>
    internal static class IbvDeviceAttr
    {
        internal const int Size = 232;
        internal const int FwVer = 0;
        internal const int NodeGuid = 64;
        internal const int MaxMrSize = 80;
        internal const int VendorId = 96;
        internal const int VendorPartId = 100;
        internal const int MaxQp = 108;
        internal const int MaxQpWr = 112;
        internal const int MaxSge = 120;
        internal const int MaxCq = 128;
        internal const int MaxCqe = 132;
        internal const int MaxMr = 136;
        internal const int MaxPd = 140;
        internal const int MaxQpRdAtom = 144;
        internal const int MaxQpInitRdAtom = 156;
        internal const int MaxSrq = 212;
        internal const int MaxSrqWr = 216;
        internal const int PhysPortCnt = 227;
    }

    /// <summary>struct ibv_port_attr (the full struct, which is what the exported ibv_query_port symbol is handed by verbs.h's fallback path).</summary>
    internal static class IbvPortAttr
    {
        internal const int Size = 52;
        internal const int State = 0;
        internal const int MaxMtu = 4;
        internal const int ActiveMtu = 8;
        internal const int GidTblLen = 12;
        internal const int MaxMsgSz = 20;
        internal const int LinkLayer = 46;
    }

    /// <summary>union ibv_gid.</summary>
    internal static class IbvGid
    {
        internal const int Size = 16;
    }

    /// <summary>struct rdma_event_channel.</summary>
    internal static class RdmaEventChannel
    {
        internal const int Fd = 0;
    }

    /// <summary>struct rdma_cm_id.</summary>
    internal static class RdmaCmId
    {
        internal const int Size = 416;
        internal const int Verbs = 0;
        internal const int Channel = 8;
        internal const int Context = 16;
        internal const int Qp = 24;
        internal const int PortNum = 348;
        internal const int SendCq = 368;
        internal const int RecvCq = 384;
        internal const int Pd = 400;
    }

    /// <summary>struct rdma_conn_param.</summary>
    internal static class RdmaConnParam
    {
        internal const int Size = 24;
        internal const int PrivateData = 0;
        internal const int PrivateDataLen = 8;
        internal const int ResponderResources = 9;
        internal const int InitiatorDepth = 10;
        internal const int FlowControl = 11;
        internal const int RetryCount = 12;
        internal const int RnrRetryCount = 13;
        internal const int Srq = 14;
        internal const int QpNum = 16;
    }

    /// <summary>struct rdma_cm_event; Conn is param.conn (a struct rdma_conn_param).</summary>
    internal static class RdmaCmEvent
    {
        internal const int Size = 80;
        internal const int Id = 0;
        internal const int ListenId = 8;
        internal const int Event = 16;
        internal const int Status = 20;
        internal const int Conn = 24;
    }

    /// <summary>struct sockaddr_in.</summary>
    internal static class SockAddrIn
    {
        internal const int Size = 16;
        internal const int Family = 0;
        internal const int Port = 2;
        internal const int Addr = 4;
    }

    /// <summary>Enum and flag values passed to or read from the libraries.</summary>
    internal static class Values
    {
        internal const int AfInet = 2;
        internal const int RdmaPsTcp = 262;
        internal const int IbvQpTypeRc = 2;
        internal const int IbvQpStateAttrMask = 1;
        internal const int IbvQpsErr = 6;
        internal const int IbvSendSignaled = 2;
        internal const int IbvSendInline = 8;
        internal const int IbvSendSolicited = 4;
        internal const int IbvWrRdmaWrite = 0;
        internal const int IbvWrRdmaWriteWithImm = 1;
        internal const int IbvWrSend = 2;
        internal const int IbvWrSendWithImm = 3;
        internal const int IbvWrRdmaRead = 4;
        internal const int IbvWrSendWithInv = 9;
        internal const int IbvWcSend = 0;
        internal const int IbvWcRdmaWrite = 1;
        internal const int IbvWcRdmaRead = 2;
        internal const int IbvWcRecv = 128;
        internal const int IbvWcRecvRdmaWithImm = 129;
        internal const int IbvWcWithImm = 2;
        internal const int IbvWcWithInv = 8;
        internal const int IbvWcSuccess = 0;
        internal const int IbvWcWrFlushErr = 5;
        internal const int IbvWcTmRndvIncomplete = 23;
        internal const int IbvAccessLocalWrite = 1;
        internal const int IbvAccessRemoteWrite = 2;
        internal const int IbvAccessRemoteRead = 4;
        internal const int IbvPortActive = 4;
        internal const int IbvLinkLayerEthernet = 2;
        internal const int RdmaCmEventAddrResolved = 0;
        internal const int RdmaCmEventConnectRequest = 4;
        internal const int RdmaCmEventEstablished = 9;
        internal const int RdmaCmEventDisconnected = 10;
        internal const int RdmaCmEventTimewaitExit = 15;
    }
}
