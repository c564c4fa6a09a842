using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Cli.Client;

/// <summary>
/// Wraps a transport to note the TSIH the target assigned in its final Login Response. IscsiSession does not expose
/// the TSIH (it logs in again with TSIH 0), so `iser session show` reads it off the wire here. Only the login is
/// observed: after it, calls pass straight through.
/// </summary>
internal sealed class LoginObservingTransport(IInitiatorTransport inner) : IInitiatorTransport
{
    /// <summary>The TSIH of the last Login Response that carried one (non-zero), or null before any.</summary>
    public ushort? Tsih { get; private set; }

    public string TransportName => inner.TransportName;

    public async ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var datamover = await inner.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
        return new ObservingDatamover(datamover, this);
    }

    private sealed class ObservingDatamover(IInitiatorDatamover inner, LoginObservingTransport owner) : IInitiatorDatamover
    {
        public string TransportName => inner.TransportName;
        public string LocalEndPoint => inner.LocalEndPoint;
        public string RemoteEndPoint => inner.RemoteEndPoint;
        public bool PlacesDataDirectly => inner.PlacesDataDirectly;

        public ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
            CancellationToken cancellationToken = default) => inner.SendCommandAsync(task, command, readBuffer, writeBuffer, cancellationToken);

        public void EndTask(DataTask task) => inner.EndTask(task);
        public ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default) => inner.SendControlAsync(pdu, cancellationToken);

        public async ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default)
        {
            var pdu = await inner.ReceiveControlAsync(cancellationToken).ConfigureAwait(false);
            if (pdu is { Opcode: IscsiOpcode.LoginResponse })
            {
                // RFC 7143 §11.13: TSIH in bytes 14-15; the target sets it in the final response of a leading login.
                ushort tsih = (ushort)((pdu.Bhs[14] << 8) | pdu.Bhs[15]);
                if (tsih != 0) owner.Tsih = tsih;
            }
            return pdu;
        }

        // Full feature phase: the PDUs go straight from the transport to the session, past this wrapper.
        public void StartReceiving(IPduReceiver receiver, bool busyPoll = false) => inner.StartReceiving(receiver, busyPoll);
        public void NoticeKeyValues(ConnectionParameters parameters) => inner.NoticeKeyValues(parameters);
        public void EnableDatamover(IDatamoverHost host) => inner.EnableDatamover(host);
        public ValueTask TerminateAsync(string reason) => inner.TerminateAsync(reason);
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
