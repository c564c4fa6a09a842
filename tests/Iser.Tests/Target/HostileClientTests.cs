using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;
using Xunit.Abstractions;

namespace Iser.Tests.Target;

/// <summary>
/// Clients that connect and never log in: they must not delay a real login, the target drops each one when its
/// login timeout passes, so they cannot pile up, and each costs the target a bounded amount of memory while it lasts:
/// its reader's 16 KiB buffer (<see cref="TcpPduReader.LoginBufferSize"/>: before login a PDU carries at most 8 KiB of
/// data) and its objects (connection, login timer, sockets: about 10 KiB more), under <see cref="MemoryBoundPerConnection"/>.
/// </summary>
public class HostileClientTests(ITestOutputHelper output)
{
    /// <summary>Managed memory (pinned buffers included) a connection that never logs in may hold, target and client socket together.</summary>
    private const long MemoryBoundPerConnection = 32 * 1024;

    [Fact]
    public async Task Thousands_of_half_open_connections_neither_delay_a_real_login_nor_outlive_the_login_timeout()
    {
        OpenFileLimit.RaiseToHardLimit();
        var (soft, _) = OpenFileLimit.Current() ?? (1024UL, 1024UL);
        // Each idle connection costs this process two descriptors (its client end and the target's end): 5,000 of them
        // (the figure) where the limit allows.
        int count = (int)Math.Min(5000UL, (soft - 512) / 2);
        Assert.True(count >= 400, $"the open-file limit ({soft}) leaves room for only {count} idle connections; raise `ulimit -n`");

        var options = new IscsiTargetOptions { LoginTimeout = TimeSpan.FromSeconds(3) };
        await using var target = InProcessTarget.Start(options, blockDevice: true);
        var idle = new List<Socket>(count);
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        try
        {
            for (int i = 0; i < count; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, target.Port));
                // Half of them start a Login Request and stop 24 bytes into its 48-byte header.
                if (i % 2 == 1) await socket.SendAsync(new byte[] { 0x43, 0x87, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 });
                idle.Add(socket);
            }

            // Managed memory the idle connections hold (the target's readers and connection objects, this side's sockets).
            long perConnection = (GC.GetTotalMemory(forceFullCollection: true) - heapBefore) / count;
            output.WriteLine($"{count} half-open connections hold {perConnection} B of managed memory each");
            Assert.True(perConnection <= MemoryBoundPerConnection,
                $"each of {count} half-open connections holds {perConnection} B of managed memory, more than {MemoryBoundPerConnection} B");

            var clock = Stopwatch.StartNew();
            await using (var session = await IscsiSession.ConnectAsync(target.SessionOptions(), new TcpInitiatorTransport()))
            {
                var lun = await session.OpenLunAsync(0);
                var data = new byte[4096];
                Random.Shared.NextBytes(data);
                await lun.WriteAsync(8, data);
                var back = new byte[4096];
                await lun.ReadAsync(8, back);
                Assert.Equal(data, back);
            }
            var loginAndIo = clock.Elapsed;
            Assert.True(loginAndIo < TimeSpan.FromSeconds(1), $"a login plus a write and a read took {loginAndIo.TotalMilliseconds:0} ms beside {count} idle connections");

            // After the login timeout every idle connection is closed by the target: a read sees the end (or a reset).
            await Task.Delay(options.LoginTimeout + TimeSpan.FromSeconds(2));
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var open = await Task.WhenAll(idle.Select(socket => StaysOpenAsync(socket, wait.Token)));
            int stillOpen = open.Count(o => o);
            Assert.Equal(0, stillOpen);
        }
        finally
        {
            foreach (var socket in idle) socket.Dispose();
        }
    }

    /// <summary>True when the socket is still open at <paramref name="deadline"/>; a close or a reset by the target is false.</summary>
    private static async Task<bool> StaysOpenAsync(Socket socket, CancellationToken deadline)
    {
        var buffer = new byte[64];
        try
        {
            // A Login Response (a reject) may come first; the close must follow it.
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, deadline) > 0) { }
            return false;
        }
        catch (SocketException) { return false; }
        catch (OperationCanceledException) { return true; }
    }
}
