namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// Queues a connection is built on but does not own: a PD, a CQ that other connections' queue pairs report to as
/// well (told apart by qp_num), and optionally an SRQ the queue pair receives through. Their owner frees them after
/// the last connection on them.
/// </summary>
public sealed record SharedQueues(ProtectionDomain ProtectionDomain, CompletionQueue CompletionQueue, SharedReceiveQueue? ReceiveQueue);
