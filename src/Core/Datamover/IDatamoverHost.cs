using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Datamover;

/// <summary>
/// What the core offers a datamover once the connection is in full feature phase: the datamover calls
/// <see cref="OnSending"/> for every PDU in the order it puts them on the wire, so sequence numbers
/// (StatSN, ExpCmdSN, MaxCmdSN on a target; ExpStatSN on an initiator) match wire order.
/// </summary>
public interface IDatamoverHost
{
    /// <summary>Stamp session/connection sequence numbers into <paramref name="pdu"/> just before it is written.</summary>
    void OnSending(Pdu pdu);
}
