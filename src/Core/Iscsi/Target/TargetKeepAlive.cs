using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// NOP on one target connection (RFC 7143 §11.18, §11.19): answers the initiator's NOP-Out pings, and pings an idle
/// initiator with a NOP-In that asks for a reply, closing the connection when none comes in time.
/// </summary>
internal sealed class TargetKeepAlive(TargetConnection connection, ILogger logger)
{
    private readonly TargetConnection _connection = connection;
    private readonly ILogger _logger = logger;
    private uint _pingTag;
    private volatile bool _pingOutstanding;
    private long _pingSentTicks;

    public void HandleNopOut(Pdu pdu)
    {
        uint itt = pdu.InitiatorTaskTag, ttt = pdu.Field20;
        if (ttt != Pdu.ReservedTag)
        {
            // The initiator answering our ping (RFC 7143 §11.18): the link is alive.
            if (ttt == _pingTag) _pingOutstanding = false;
            return;
        }
        if (itt == Pdu.ReservedTag) return; // a one-way keep-alive: no answer wanted
        var reply = PduPool.Rent();
        reply.Opcode = IscsiOpcode.NopIn;
        reply.Flags = 0x80;
        reply.Lun = pdu.Lun;
        reply.InitiatorTaskTag = itt;
        reply.Field20 = Pdu.ReservedTag;
        // Ping data comes back unchanged (up to what the initiator can receive).
        int echo = Math.Min(pdu.Data.Length, _connection.Negotiated!.Connection.MaxXmitDataSegmentLength);
        reply.SetData(pdu.Data.Span[..echo]);
        _connection.Send(reply);
    }

    /// <summary>
    /// When the initiator has been silent for <see cref="IscsiTarget_connection.Options.NopInInterval"/>, ping it with a NOP-In that
    /// asks for a reply (TTT set); no reply within <see cref="IscsiTarget_connection.Options.NopInTimeout"/> ends the connection.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        // iSER has no transport keep-alive, so its heartbeat is on by default with a shorter interval.
        bool iser = _connection.Datamover.PlacesDataDirectly;
        var interval = iser ? _connection.Options.IserNopInInterval : _connection.Options.NopInInterval;
        var timeout = iser ? _connection.Options.IserNopInTimeout : _connection.Options.NopInTimeout;
        if (interval <= TimeSpan.Zero) return;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(interval.TotalMilliseconds / 4, 20, 1000));
        try
        {
            using var timer = new PeriodicTimer(tick);
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                long now = Environment.TickCount64;
                if (_pingOutstanding)
                {
                    if (now - _pingSentTicks > timeout.TotalMilliseconds)
                    {
                        string reason = $"initiator did not answer a NOP-In ping within {timeout.TotalSeconds:0.###} s";
                        _logger.LogWarning("{Remote}: {Reason}; closing the connection", _connection.Datamover.RemoteEndPoint, reason);
                        Diagnostics.TargetMetrics.KeepAlivesMissed.Add(1);
                        await _connection.CloseAsync(reason, handOverTasks: true).ConfigureAwait(false);
                        return;
                    }
                    continue;
                }
                if (now - _connection.LastReceiveTicks < interval.TotalMilliseconds) continue;
                _pingTag = NextPingTag();
                _pingSentTicks = now;
                _pingOutstanding = true;
                var ping = PduPool.Rent();
                ping.Opcode = IscsiOpcode.NopIn;
                ping.Flags = 0x80;
                ping.InitiatorTaskTag = Pdu.ReservedTag;
                ping.Field20 = _pingTag;
                Diagnostics.TargetMetrics.KeepAlivesSent.Add(1);
                _connection.Send(ping);
            }
        }
        catch (OperationCanceledException) { }
    }

    private uint NextPingTag()
    {
        uint t = _pingTag + 1;
        return t is 0 or Pdu.ReservedTag ? 1 : t;
    }
}
