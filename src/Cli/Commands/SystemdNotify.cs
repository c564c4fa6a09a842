using System.Net.Sockets;
using System.Text;

namespace Iser.Cli.Commands;

/// <summary>
/// sd_notify for `Type=notify` units: READY=1 once the portals listen, RELOADING=1 / READY=1 around a SIGHUP reload,
/// STOPPING=1 at shutdown, each a datagram to $NOTIFY_SOCKET. Without that variable (not under systemd) it does nothing.
/// </summary>
internal sealed class SystemdNotify : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endPoint;

    public SystemdNotify()
    {
        var path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path) || !OperatingSystem.IsLinux()) return;
        // A leading '@' names an abstract socket: its address starts with a NUL byte.
        _endPoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    public void Ready() => Send("READY=1");
    public void Reloading() => Send($"RELOADING=1\nMONOTONIC_USEC={Environment.TickCount64 * 1000}");
    public void Stopping() => Send("STOPPING=1");

    /// <summary>A status line systemctl shows.</summary>
    public void Status(string text) => Send("STATUS=" + text.Replace('\n', ' '));

    private void Send(string message)
    {
        if (_socket is null) return;
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(message), _endPoint!);
        }
        catch (SocketException)
        {
            // systemd gone or the socket closed: notifications are advisory, serving goes on.
        }
    }

    public void Dispose() => _socket?.Dispose();
}
