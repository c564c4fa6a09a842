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

    private sealed class ObservingDatamover(IInitiatorDatamover inner, LoginObservingTransport owner) : DelegatingInitiatorDatamover(inner)
    {
        public override async ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default)
        {
            var pdu = await Inner.ReceiveControlAsync(cancellationToken).ConfigureAwait(false);
            if (pdu is { Opcode: IscsiOpcode.LoginResponse })
            {
                // RFC 7143 §11.13: TSIH in bytes 14-15; the target sets it in the final response of a leading login.
                ushort tsih = (ushort)((pdu.Bhs[14] << 8) | pdu.Bhs[15]);
                if (tsih != 0) owner.Tsih = tsih;
            }
            return pdu;
        }
    }
}
