namespace Iser.Core.Iscsi.Pdus;

/// <summary>Implemented by whoever lent a PDU its data buffer and needs to know when the transport is done with it.</summary>
public interface IPduSentNotification
{
    /// <param name="error">Null when the PDU was written; the failure when the connection broke first.</param>
    void OnPduSent(Pdu pdu, Exception? error);
}
