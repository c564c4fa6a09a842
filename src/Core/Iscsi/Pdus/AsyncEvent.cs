namespace Iser.Core.Iscsi.Pdus;

/// <summary>AsyncEvent field of an Asynchronous Message (RFC 7143 §11.9.1).</summary>
public enum AsyncEvent : byte
{
    /// <summary>A SCSI asynchronous event; sense data in the data segment says which.</summary>
    ScsiAsyncEvent = 0,
    LogoutRequested = 1,
    ConnectionWillBeDropped = 2,
    AllConnectionsWillBeDropped = 3,
    NegotiationRequested = 4,
    VendorSpecific = 255,
}

public static class AsyncEventExtensions
{
    public static string Describe(this AsyncEvent asyncEvent) => asyncEvent switch
    {
        AsyncEvent.ScsiAsyncEvent => "The target reports a SCSI asynchronous event; the attached sense data says which.",
        AsyncEvent.LogoutRequested => "The target asks the initiator to log out this connection (or session) within Parameter3 seconds.",
        AsyncEvent.ConnectionWillBeDropped => "The target will drop this connection (Parameter1 names the CID; Parameter2 is Time2Wait, Parameter3 Time2Retain).",
        AsyncEvent.AllConnectionsWillBeDropped => "The target will drop all connections of this session (Parameter2 is Time2Wait, Parameter3 Time2Retain).",
        AsyncEvent.NegotiationRequested => "The target asks the initiator to renegotiate operational parameters with a Text Request.",
        AsyncEvent.VendorSpecific => "The target sent a vendor-specific asynchronous event.",
        _ => $"The target sent asynchronous event {(byte)asyncEvent}, which RFC 7143 reserves.",
    };
}
