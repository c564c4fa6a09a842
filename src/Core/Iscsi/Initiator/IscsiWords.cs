namespace Iser.Core.Iscsi.Initiator;

/// <summary>RFC 7143 codes the initiator receives, in words (reject reasons, TMF and logout responses, async events).</summary>
public static class IscsiWords
{
    public static string RejectReason(byte reason) => reason switch
    {
        0x01 => "reserved reason code",
        0x02 => "data (payload) digest error",
        0x03 => "SNACK reject",
        0x04 => "protocol error",
        0x05 => "command not supported",
        0x06 => "immediate command rejected (too many immediate commands)",
        0x07 => "task in progress",
        0x08 => "invalid data ACK",
        0x09 => "invalid PDU field",
        0x0a => "long operation reject (out of resources)",
        0x0b => "deprecated (negotiation reset)",
        0x0c => "waiting for logout",
        _ => $"unknown reason 0x{reason:x2}",
    };

    public static string TaskManagementResponse(byte response) => response switch
    {
        0 => "function complete",
        1 => "task does not exist",
        2 => "LUN does not exist",
        3 => "task still allegiant",
        4 => "task allegiance reassignment not supported",
        5 => "task management function not supported",
        6 => "function authorization failed",
        255 => "function rejected",
        _ => $"unknown response {response}",
    };

    public static string LogoutResponse(byte response) => response switch
    {
        0 => "connection or session closed successfully",
        1 => "CID not found",
        2 => "connection recovery is not supported",
        3 => "cleanup failed for various reasons",
        _ => $"unknown response {response}",
    };

    public static string AsyncEvent(byte asyncEvent) => asyncEvent switch
    {
        0 => "SCSI asynchronous event",
        1 => "target requests logout",
        2 => "target will drop this connection",
        3 => "target will drop all connections of this session",
        4 => "target requests parameter negotiation",
        255 => "vendor-specific event",
        _ => $"unknown event {asyncEvent}",
    };
}
