using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Client;

/// <summary>Logs in to the target of a URL with the shared options; the caller disposes (which logs out).</summary>
internal static class ClientConnection
{
    public static Task<IscsiSession> ConnectAsync(ClientOptions options, IscsiUrl url, CommandConsole console, CancellationToken ct) =>
        ConnectAsync(options.SessionOptions(url), options.CreateTransport(url, console.Error), ct);

    public static Task<IscsiSession> ConnectAsync(IscsiSessionOptions options, IInitiatorTransport transport, CancellationToken ct) =>
        IscsiSession.ConnectAsync(options, transport, ct);

    /// <summary>Opens LUN <see cref="IscsiUrl.Lun"/> (READ CAPACITY) and checks it is a block device.</summary>
    public static async Task<IscsiLun> OpenLunAsync(IscsiSession session, IscsiUrl url, CancellationToken ct)
    {
        var lun = await session.OpenLunAsync(url.Lun, ct).ConfigureAwait(false);
        if (lun.BlockSize <= 0) throw new InvalidOperationException($"LUN {url.Lun} of {url.TargetName} reports a block size of 0.");
        return lun;
    }
}
