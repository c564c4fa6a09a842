/*
 * verbs_probe: prints the sizes, field offsets and enum values the C# binding
 * (src/Transport.Iser/Verbs/NativeLayout.cs) hard-codes, one "Class.Constant=value"
 * per line. The key is the C# constant's path inside NativeLayout, so the test
 * tests/Iser.Tests/Verbs/NativeLayoutProbeTests.cs can compare both sets exactly.
 */
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#define V(key, expr) printf("%s=%ld\n", key, (long)(expr))
#define SIZE(cls, type) V(cls ".Size", sizeof(type))
#define OFF(cls, name, type, field) V(cls "." name, offsetof(type, field))

int main(void)
{
	/* struct ibv_context and the slots of its embedded ops table (absolute offsets) */
	OFF("IbvContext", "Device", struct ibv_context, device);
	OFF("IbvContext", "Ops", struct ibv_context, ops);
	OFF("IbvContext", "PollCqSlot", struct ibv_context, ops.poll_cq);
	OFF("IbvContext", "ReqNotifyCqSlot", struct ibv_context, ops.req_notify_cq);
	OFF("IbvContext", "PostSendSlot", struct ibv_context, ops.post_send);
	OFF("IbvContext", "PostRecvSlot", struct ibv_context, ops.post_recv);
	OFF("IbvContext", "PostSrqRecvSlot", struct ibv_context, ops.post_srq_recv);

	OFF("IbvCompChannel", "Context", struct ibv_comp_channel, context);
	OFF("IbvCompChannel", "Fd", struct ibv_comp_channel, fd);

	OFF("IbvCq", "Context", struct ibv_cq, context);
	OFF("IbvCq", "Cqe", struct ibv_cq, cqe);

	OFF("IbvPd", "Context", struct ibv_pd, context);

	SIZE("IbvMr", struct ibv_mr);
	OFF("IbvMr", "Addr", struct ibv_mr, addr);
	OFF("IbvMr", "Length", struct ibv_mr, length);
	OFF("IbvMr", "Lkey", struct ibv_mr, lkey);
	OFF("IbvMr", "Rkey", struct ibv_mr, rkey);

	OFF("IbvQp", "Context", struct ibv_qp, context);
	OFF("IbvQp", "QpNum", struct ibv_qp, qp_num);
	OFF("IbvQp", "State", struct ibv_qp, state);

	SIZE("IbvSge", struct ibv_sge);
	OFF("IbvSge", "Addr", struct ibv_sge, addr);
	OFF("IbvSge", "Length", struct ibv_sge, length);
	OFF("IbvSge", "Lkey", struct ibv_sge, lkey);

	SIZE("IbvSendWr", struct ibv_send_wr);
	OFF("IbvSendWr", "WrId", struct ibv_send_wr, wr_id);
	OFF("IbvSendWr", "Next", struct ibv_send_wr, next);
	OFF("IbvSendWr", "SgList", struct ibv_send_wr, sg_list);
	OFF("IbvSendWr", "NumSge", struct ibv_send_wr, num_sge);
	OFF("IbvSendWr", "Opcode", struct ibv_send_wr, opcode);
	OFF("IbvSendWr", "SendFlags", struct ibv_send_wr, send_flags);
	OFF("IbvSendWr", "ImmData", struct ibv_send_wr, imm_data);
	OFF("IbvSendWr", "RdmaRemoteAddr", struct ibv_send_wr, wr.rdma.remote_addr);
	OFF("IbvSendWr", "RdmaRkey", struct ibv_send_wr, wr.rdma.rkey);

	SIZE("IbvRecvWr", struct ibv_recv_wr);
	OFF("IbvRecvWr", "WrId", struct ibv_recv_wr, wr_id);
	OFF("IbvRecvWr", "Next", struct ibv_recv_wr, next);
	OFF("IbvRecvWr", "SgList", struct ibv_recv_wr, sg_list);
	OFF("IbvRecvWr", "NumSge", struct ibv_recv_wr, num_sge);

	SIZE("IbvWc", struct ibv_wc);
	OFF("IbvWc", "WrId", struct ibv_wc, wr_id);
	OFF("IbvWc", "Status", struct ibv_wc, status);
	OFF("IbvWc", "Opcode", struct ibv_wc, opcode);
	OFF("IbvWc", "VendorErr", struct ibv_wc, vendor_err);
	OFF("IbvWc", "ByteLen", struct ibv_wc, byte_len);
	OFF("IbvWc", "ImmData", struct ibv_wc, imm_data);
	OFF("IbvWc", "QpNum", struct ibv_wc, qp_num);
	OFF("IbvWc", "WcFlags", struct ibv_wc, wc_flags);

	SIZE("IbvQpCap", struct ibv_qp_cap);
	OFF("IbvQpCap", "MaxSendWr", struct ibv_qp_cap, max_send_wr);
	OFF("IbvQpCap", "MaxRecvWr", struct ibv_qp_cap, max_recv_wr);
	OFF("IbvQpCap", "MaxSendSge", struct ibv_qp_cap, max_send_sge);
	OFF("IbvQpCap", "MaxRecvSge", struct ibv_qp_cap, max_recv_sge);
	OFF("IbvQpCap", "MaxInlineData", struct ibv_qp_cap, max_inline_data);

	SIZE("IbvSrqInitAttr", struct ibv_srq_init_attr);
	OFF("IbvSrqInitAttr", "SrqContext", struct ibv_srq_init_attr, srq_context);
	OFF("IbvSrqInitAttr", "MaxWr", struct ibv_srq_init_attr, attr.max_wr);
	OFF("IbvSrqInitAttr", "MaxSge", struct ibv_srq_init_attr, attr.max_sge);
	OFF("IbvSrqInitAttr", "SrqLimit", struct ibv_srq_init_attr, attr.srq_limit);
	SIZE("IbvQpInitAttr", struct ibv_qp_init_attr);
	OFF("IbvQpInitAttr", "QpContext", struct ibv_qp_init_attr, qp_context);
	OFF("IbvQpInitAttr", "SendCq", struct ibv_qp_init_attr, send_cq);
	OFF("IbvQpInitAttr", "RecvCq", struct ibv_qp_init_attr, recv_cq);
	OFF("IbvQpInitAttr", "Srq", struct ibv_qp_init_attr, srq);
	OFF("IbvQpInitAttr", "Cap", struct ibv_qp_init_attr, cap);
	OFF("IbvQpInitAttr", "QpType", struct ibv_qp_init_attr, qp_type);
	OFF("IbvQpInitAttr", "SqSigAll", struct ibv_qp_init_attr, sq_sig_all);

	SIZE("IbvQpAttr", struct ibv_qp_attr);
	OFF("IbvQpAttr", "QpState", struct ibv_qp_attr, qp_state);

	SIZE("IbvDeviceAttr", struct ibv_device_attr);
	OFF("IbvDeviceAttr", "FwVer", struct ibv_device_attr, fw_ver);
	OFF("IbvDeviceAttr", "NodeGuid", struct ibv_device_attr, node_guid);
	OFF("IbvDeviceAttr", "MaxMrSize", struct ibv_device_attr, max_mr_size);
	OFF("IbvDeviceAttr", "VendorId", struct ibv_device_attr, vendor_id);
	OFF("IbvDeviceAttr", "VendorPartId", struct ibv_device_attr, vendor_part_id);
	OFF("IbvDeviceAttr", "MaxQp", struct ibv_device_attr, max_qp);
	OFF("IbvDeviceAttr", "MaxQpWr", struct ibv_device_attr, max_qp_wr);
	OFF("IbvDeviceAttr", "MaxSge", struct ibv_device_attr, max_sge);
	OFF("IbvDeviceAttr", "MaxCq", struct ibv_device_attr, max_cq);
	OFF("IbvDeviceAttr", "MaxCqe", struct ibv_device_attr, max_cqe);
	OFF("IbvDeviceAttr", "MaxMr", struct ibv_device_attr, max_mr);
	OFF("IbvDeviceAttr", "MaxPd", struct ibv_device_attr, max_pd);
	OFF("IbvDeviceAttr", "MaxQpRdAtom", struct ibv_device_attr, max_qp_rd_atom);
	OFF("IbvDeviceAttr", "MaxQpInitRdAtom", struct ibv_device_attr, max_qp_init_rd_atom);
	OFF("IbvDeviceAttr", "MaxSrq", struct ibv_device_attr, max_srq);
	OFF("IbvDeviceAttr", "MaxSrqWr", struct ibv_device_attr, max_srq_wr);
	OFF("IbvDeviceAttr", "PhysPortCnt", struct ibv_device_attr, phys_port_cnt);

	SIZE("IbvPortAttr", struct ibv_port_attr);
	OFF("IbvPortAttr", "State", struct ibv_port_attr, state);
	OFF("IbvPortAttr", "MaxMtu", struct ibv_port_attr, max_mtu);
	OFF("IbvPortAttr", "ActiveMtu", struct ibv_port_attr, active_mtu);
	OFF("IbvPortAttr", "GidTblLen", struct ibv_port_attr, gid_tbl_len);
	OFF("IbvPortAttr", "MaxMsgSz", struct ibv_port_attr, max_msg_sz);
	OFF("IbvPortAttr", "LinkLayer", struct ibv_port_attr, link_layer);

	V("IbvGid.Size", sizeof(union ibv_gid));

	OFF("RdmaEventChannel", "Fd", struct rdma_event_channel, fd);

	SIZE("RdmaCmId", struct rdma_cm_id);
	OFF("RdmaCmId", "Verbs", struct rdma_cm_id, verbs);
	OFF("RdmaCmId", "Channel", struct rdma_cm_id, channel);
	OFF("RdmaCmId", "Context", struct rdma_cm_id, context);
	OFF("RdmaCmId", "Qp", struct rdma_cm_id, qp);
	OFF("RdmaCmId", "PortNum", struct rdma_cm_id, port_num);
	OFF("RdmaCmId", "SendCq", struct rdma_cm_id, send_cq);
	OFF("RdmaCmId", "RecvCq", struct rdma_cm_id, recv_cq);
	OFF("RdmaCmId", "Pd", struct rdma_cm_id, pd);

	SIZE("RdmaConnParam", struct rdma_conn_param);
	OFF("RdmaConnParam", "PrivateData", struct rdma_conn_param, private_data);
	OFF("RdmaConnParam", "PrivateDataLen", struct rdma_conn_param, private_data_len);
	OFF("RdmaConnParam", "ResponderResources", struct rdma_conn_param, responder_resources);
	OFF("RdmaConnParam", "InitiatorDepth", struct rdma_conn_param, initiator_depth);
	OFF("RdmaConnParam", "FlowControl", struct rdma_conn_param, flow_control);
	OFF("RdmaConnParam", "RetryCount", struct rdma_conn_param, retry_count);
	OFF("RdmaConnParam", "RnrRetryCount", struct rdma_conn_param, rnr_retry_count);
	OFF("RdmaConnParam", "Srq", struct rdma_conn_param, srq);
	OFF("RdmaConnParam", "QpNum", struct rdma_conn_param, qp_num);

	SIZE("RdmaCmEvent", struct rdma_cm_event);
	OFF("RdmaCmEvent", "Id", struct rdma_cm_event, id);
	OFF("RdmaCmEvent", "ListenId", struct rdma_cm_event, listen_id);
	OFF("RdmaCmEvent", "Event", struct rdma_cm_event, event);
	OFF("RdmaCmEvent", "Status", struct rdma_cm_event, status);
	OFF("RdmaCmEvent", "Conn", struct rdma_cm_event, param.conn);

	SIZE("SockAddrIn", struct sockaddr_in);
	OFF("SockAddrIn", "Family", struct sockaddr_in, sin_family);
	OFF("SockAddrIn", "Port", struct sockaddr_in, sin_port);
	OFF("SockAddrIn", "Addr", struct sockaddr_in, sin_addr);

	/* enum and flag values the binding passes to or reads from the libraries */
	V("Values.AfInet", AF_INET);
	V("Values.RdmaPsTcp", RDMA_PS_TCP);
	V("Values.IbvQpTypeRc", IBV_QPT_RC);
	V("Values.IbvQpStateAttrMask", IBV_QP_STATE);
	V("Values.IbvQpsErr", IBV_QPS_ERR);
	V("Values.IbvSendSignaled", IBV_SEND_SIGNALED);
	V("Values.IbvSendInline", IBV_SEND_INLINE);
	V("Values.IbvSendSolicited", IBV_SEND_SOLICITED);
	V("Values.IbvWrRdmaWrite", IBV_WR_RDMA_WRITE);
	V("Values.IbvWrRdmaWriteWithImm", IBV_WR_RDMA_WRITE_WITH_IMM);
	V("Values.IbvWrSend", IBV_WR_SEND);
	V("Values.IbvWrSendWithImm", IBV_WR_SEND_WITH_IMM);
	V("Values.IbvWrRdmaRead", IBV_WR_RDMA_READ);
	V("Values.IbvWrSendWithInv", IBV_WR_SEND_WITH_INV);
	V("Values.IbvWcSend", IBV_WC_SEND);
	V("Values.IbvWcRdmaWrite", IBV_WC_RDMA_WRITE);
	V("Values.IbvWcRdmaRead", IBV_WC_RDMA_READ);
	V("Values.IbvWcRecv", IBV_WC_RECV);
	V("Values.IbvWcRecvRdmaWithImm", IBV_WC_RECV_RDMA_WITH_IMM);
	V("Values.IbvWcWithImm", IBV_WC_WITH_IMM);
	V("Values.IbvWcWithInv", IBV_WC_WITH_INV);
	V("Values.IbvWcSuccess", IBV_WC_SUCCESS);
	V("Values.IbvWcWrFlushErr", IBV_WC_WR_FLUSH_ERR);
	V("Values.IbvWcTmRndvIncomplete", IBV_WC_TM_RNDV_INCOMPLETE);
	V("Values.IbvAccessLocalWrite", IBV_ACCESS_LOCAL_WRITE);
	V("Values.IbvAccessRemoteWrite", IBV_ACCESS_REMOTE_WRITE);
	V("Values.IbvAccessRemoteRead", IBV_ACCESS_REMOTE_READ);
	V("Values.IbvPortActive", IBV_PORT_ACTIVE);
	V("Values.IbvLinkLayerEthernet", IBV_LINK_LAYER_ETHERNET);
	V("Values.RdmaCmEventAddrResolved", RDMA_CM_EVENT_ADDR_RESOLVED);
	V("Values.RdmaCmEventConnectRequest", RDMA_CM_EVENT_CONNECT_REQUEST);
	V("Values.RdmaCmEventEstablished", RDMA_CM_EVENT_ESTABLISHED);
	V("Values.RdmaCmEventDisconnected", RDMA_CM_EVENT_DISCONNECTED);
	V("Values.RdmaCmEventTimewaitExit", RDMA_CM_EVENT_TIMEWAIT_EXIT);
	return 0;
}
