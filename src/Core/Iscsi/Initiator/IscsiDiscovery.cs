using Iser.Core.Datamover;
using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>SendTargets discovery (RFC 7143 §4.3, Appendix C): a discovery session that asks for every target it may see.</summary>
public static class IscsiDiscovery
{
    /// <summary>
    /// Logs in to <paramref name="host"/>:<paramref name="port"/> with SessionType=Discovery, sends SendTargets=All,
    /// logs out, and returns each target with its portals. <paramref name="options"/> supplies the initiator name and
    /// CHAP; its target name is ignored.
    /// </summary>
    public static async Task<IReadOnlyList<DiscoverableTarget>> DiscoverAsync(string host, int port, IscsiSessionOptions? options,
        IInitiatorTransport transport, CancellationToken cancellationToken = default)
    {
        var discovery = (options ?? new IscsiSessionOptions()).Clone();
        discovery.Host = host;
        discovery.Port = port;
        discovery.TargetName = null;
        discovery.Reconnect = new ReconnectOptions { Enabled = false };
        var session = await IscsiSession.ConnectAsync(discovery, transport, cancellationToken).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var targets = await session.SendTargetsAsync("All", cancellationToken).ConfigureAwait(false);
            await session.LogoutAsync(cancellationToken).ConfigureAwait(false);
            return targets;
        }
    }
}
