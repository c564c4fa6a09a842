using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Peers;
using Iser.Transport.Tcp;
using LoginChap = Iser.Core.Iscsi.Login.ChapCredentials;
using PeerChap = Iser.Tests.Peers.ChapCredentials;

namespace Iser.Tests.Initiator;

/// <summary>Our initiator against tgtd (Linux SCSI target framework) over loopback TCP, once per completion mode.</summary>
public abstract class InitiatorAgainstTgtdTests(CompletionMode mode)
{
    private static readonly TcpInitiatorTransport Tcp = new();

    private IscsiSessionOptions OptionsFor(TgtdInstance tgtd) => new IscsiSessionOptions
    {
        Host = "127.0.0.1",
        Port = tgtd.Port,
        TargetName = tgtd.TargetIqn,
        Reconnect = new ReconnectOptions { Enabled = false },
    }.In(mode);

    [PeerTheory(Peer.Tgtd)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task Writes_and_reads_back_at_many_sizes(bool headerDigest, bool dataDigest)
    {
        await using var tgtd = await TgtdInstance.StartAsync(new TgtdOptions { LunSizesInBytes = new[] { 32L * 1024 * 1024 } });
        if (headerDigest || dataDigest)
        {
            // tgtd offers no digests unless told to.
            await tgtd.TgtadmAsync("--op", "update", "--mode", "target", "--tid", "1", "--name", "HeaderDigest", "--value", "CRC32C,None");
            await tgtd.TgtadmAsync("--op", "update", "--mode", "target", "--tid", "1", "--name", "DataDigest", "--value", "CRC32C,None");
        }
        var options = OptionsFor(tgtd);
        options.HeaderDigest = headerDigest ? "CRC32C" : "None";
        options.DataDigest = dataDigest ? "CRC32C" : "None";
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        Assert.Equal(headerDigest, session.Negotiated.Connection.HeaderDigest);
        Assert.Equal(dataDigest, session.Negotiated.Connection.DataDigest);
        var lun = await session.OpenLunAsync(TgtdInstance.FirstDiskLun);
        Assert.Equal(512, lun.BlockSize);
        Assert.Equal(32L * 1024 * 1024 / 512, lun.BlockCount);
        var inquiry = await lun.InquiryAsync();
        Assert.Equal(Iser.Core.Scsi.Initiator.PeripheralDeviceType.DirectAccessBlock, inquiry.DeviceType);

        var parameters = session.Negotiated.Connection;
        // Sizes around the negotiated FirstBurstLength and MaxBurstLength, and well past them (several R2Ts).
        int[] sizes = [512, 4096, parameters.FirstBurstLength, parameters.FirstBurstLength + 512, parameters.MaxBurstLength + 4096, 2 * 1024 * 1024];
        long lba = 0;
        foreach (int size in sizes)
        {
            int length = (size + 511) / 512 * 512;
            var data = new byte[length];
            Random.Shared.NextBytes(data);
            await lun.WriteAsync(lba, data);
            var back = new byte[length];
            await lun.ReadAsync(lba, back);
            Assert.True(data.AsSpan().SequenceEqual(back), $"{length} bytes at LBA {lba} read back as written");
            lba += length / 512 + 7;
        }
        await session.LogoutAsync();
    }

    [PeerFact(Peer.Tgtd)]
    public async Task Many_commands_in_flight_keep_their_data()
    {
        await using var tgtd = await TgtdInstance.StartAsync(new TgtdOptions { LunSizesInBytes = new[] { 32L * 1024 * 1024 } });
        await using var session = await IscsiSession.ConnectAsync(OptionsFor(tgtd), Tcp);
        var lun = await session.OpenLunAsync(TgtdInstance.FirstDiskLun);
        const int Count = 96;
        var payloads = Enumerable.Range(0, Count).Select(i =>
        {
            var p = new byte[(1 + i % 32) * 512];
            Random.Shared.NextBytes(p);
            return p;
        }).ToArray();
        await Task.WhenAll(payloads.Select((p, i) => lun.WriteAsync(i * 64, p).AsTask())).WaitAsync(TimeSpan.FromSeconds(60));
        var reads = await Task.WhenAll(payloads.Select(async (p, i) =>
        {
            var back = new byte[p.Length];
            await lun.ReadAsync(i * 64, back);
            return back;
        })).WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 0; i < Count; i++) Assert.Equal(payloads[i], reads[i]);
        Assert.True(await session.PingAsync(TimeSpan.FromSeconds(5)) < TimeSpan.FromSeconds(5));
    }

    [PeerFact(Peer.Tgtd)]
    public async Task Logs_in_with_mutual_chap()
    {
        var initiator = new PeerChap("alice", "alice-secret-123");
        var target = new PeerChap("tgtd-user", "tgtd-secret-4567");
        await using var tgtd = await TgtdInstance.StartAsync(new TgtdOptions { Chap = initiator, MutualChap = target });
        var options = OptionsFor(tgtd);
        options.Chap = new LoginChap(initiator.User, initiator.Secret);
        options.MutualChap = new LoginChap(target.User, target.Secret);
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        Assert.True(session.Negotiated.MutualAuthentication);
        var lun = await session.OpenLunAsync(TgtdInstance.FirstDiskLun);
        Assert.True(lun.BlockCount > 0);

        options.Chap = new LoginChap(initiator.User, "not-the-secret-000");
        var error = await Assert.ThrowsAsync<IscsiLoginException>(() => IscsiSession.ConnectAsync(options, Tcp));
        Assert.Contains("authentication failed", error.Message);
    }

    [PeerFact(Peer.Tgtd)]
    public async Task Session_recovers_after_the_connection_is_killed_under_load()
    {
        await using var tgtd = await TgtdInstance.StartAsync(new TgtdOptions { LunSizesInBytes = new[] { 16L * 1024 * 1024 } });
        await using var proxy = new FaultProxy(tgtd.Port);
        var options = OptionsFor(tgtd);
        options.Port = proxy.Port;
        options.Reconnect = new ReconnectOptions { Enabled = true, ReplacementTimeout = TimeSpan.FromSeconds(30) };
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        var lun = await session.OpenLunAsync(TgtdInstance.FirstDiskLun);
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<long, byte[]>();
        using var stop = new CancellationTokenSource();
        const int Workers = 16;
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            for (long slot = w; (slot + 1) * 8 <= lun.BlockCount && !stop.IsCancellationRequested; slot += Workers)
            {
                var data = new byte[(1 + slot % 8) * 512];
                Random.Shared.NextBytes(data);
                await lun.WriteAsync(slot * 8, data);
                acknowledged[slot * 8] = data;
            }
        })).ToArray();
        await Task.Delay(300);
        proxy.KillConnections();
        await Task.Delay(500);
        stop.Cancel();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(session.ReconnectCount >= 1);
        foreach (var (lba, data) in acknowledged)
        {
            var back = new byte[data.Length];
            await lun.ReadAsync(lba, back);
            Assert.True(data.AsSpan().SequenceEqual(back), $"LBA {lba} reads back what was written");
        }
    }

    [PeerFact(Peer.Tgtd)]
    public async Task Discovers_the_target()
    {
        await using var tgtd = await TgtdInstance.StartAsync();
        var targets = await IscsiDiscovery.DiscoverAsync("127.0.0.1", tgtd.Port, new IscsiSessionOptions(), Tcp);
        var found = Assert.Single(targets, t => t.Name == tgtd.TargetIqn);
        Assert.Contains(found.Portals, p => p.Port == tgtd.Port);
    }
}

public sealed class InitiatorAgainstTgtdTestsThreadPool() : InitiatorAgainstTgtdTests(CompletionMode.ThreadPool);
public sealed class InitiatorAgainstTgtdTestsInline() : InitiatorAgainstTgtdTests(CompletionMode.Inline);
[Collection(BusyPollCollection.Name)]
public sealed class InitiatorAgainstTgtdTestsBusyPoll() : InitiatorAgainstTgtdTests(CompletionMode.BusyPoll);
