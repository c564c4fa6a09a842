using System.Buffers.Binary;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;
using Iser.Transport.Tcp;

namespace Iser.Tests.Initiator;

/// <summary>
/// Our initiator against our own target: login, data integrity, sizes, digests, concurrency; once per completion mode
/// (the classes at the end). The protocol tests run over loopback TCP and over the in-memory transport (direct data
/// placement, as on iSER); those about TCP itself (a refused connection, an IPv6 portal, discovery's portals) over TCP only.
/// </summary>
public abstract class InitiatorAgainstTargetTests(CompletionMode mode)
{
    private static readonly TcpInitiatorTransport Tcp = new();

    public static TheoryData<string> Transports() => new() { InProcessTarget.Tcp, InProcessTarget.Memory };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_lun_that_grows_is_measured_again_and_serves_its_new_blocks(string transport)
    {
        await using var target = InProcessTarget.Start(blocks: 4096, blockDevice: true, transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions(), target.InitiatorTransport);
        var lun = await session.OpenLunAsync(0);
        Assert.Equal(4096, lun.BlockCount);
        var data = new byte[512];
        Random.Shared.NextBytes(data);
        await lun.WriteAsync(4095, data);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await lun.WriteAsync(4096, data));

        await target.BlockDevice!.GrowAsync(8192);
        // The next command meets CAPACITY DATA HAS CHANGED: it is sent again, and the capacity read again.
        await lun.WriteAsync(0, data);
        Assert.Equal(8192, lun.BlockCount);
        await lun.WriteAsync(8191, data);
        var back = new byte[512];
        await lun.ReadAsync(8191, back);
        Assert.Equal(data, back);
        await lun.ReadAsync(4095, back);
        Assert.Equal(data, back);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Logs_in_reads_capacity_and_inquiry(string transport)
    {
        await using var target = InProcessTarget.Start(blocks: 4096, blockDevice: true, transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), target.InitiatorTransport);
        Assert.Equal(IscsiSessionState.LoggedIn, session.State);
        Assert.Equal(transport, session.TransportName);
        Assert.Equal(0x80UL, session.Isid >> 40); // random-format ISID
        Assert.Equal(InProcessTarget.Iqn, session.Negotiated.TargetName);
        Assert.Equal("test disk", session.Negotiated.TargetAlias);
        Assert.Contains(session.Negotiated.Keys, k => k.Name == "MaxBurstLength");
        var lun = await session.OpenLunAsync(0);
        Assert.Equal(512, lun.BlockSize);
        Assert.Equal(4096, lun.BlockCount);
        var inquiry = await lun.InquiryAsync();
        Assert.Equal("Iser Disk", inquiry.Product);
        Assert.Equal(PeripheralDeviceType.DirectAccessBlock, inquiry.DeviceType);
        Assert.True(lun.Capacity.ProvisioningEnabled); // READ CAPACITY (16) was used: only it reports thin provisioning
        await session.LogoutAsync();
        Assert.Equal(IscsiSessionState.LoggedOut, session.State);
        await Assert.ThrowsAsync<IscsiException>(async () => await lun.ReadAsync(0, new byte[512]));
    }

    private static readonly (int Blocks, bool HeaderDigest, bool DataDigest, bool ImmediateData, bool InitialR2T)[] Transfers =
    [
        (1, false, false, true, false),
        (16, false, false, true, false),
        (100, true, true, true, false),          // 51200 B: immediate + unsolicited Data-Out within FirstBurstLength
        (300, false, false, true, false),        // > FirstBurstLength: R2T sequence
        (2048, true, true, true, false),         // 1 MiB: several bursts of MaxBurstLength
        (5000, false, true, false, false),       // unsolicited Data-Out only, then several R2Ts; multi-PDU Data-In
        (6000, true, false, true, false),
        (700, false, false, true, true),         // InitialR2T=Yes: immediate data, then only solicited data
        (700, true, true, false, true),          // InitialR2T=Yes, ImmediateData=No: every byte solicited by R2T
    ];

    /// <summary>
    /// Transport, blocks, header digest, data digest, immediate data, initial R2T. Every case over TCP; in memory each
    /// size once, without digests (no bytes cross a wire to digest) and with iSER's login, which settles ImmediateData=No
    /// and InitialR2T=Yes whatever is offered, so the immediate and R2T variants would be the same test.
    /// </summary>
    public static TheoryData<string, int, bool, bool, bool, bool> TransferCases()
    {
        var cases = new TheoryData<string, int, bool, bool, bool, bool>();
        foreach (var t in Transfers) cases.Add(InProcessTarget.Tcp, t.Blocks, t.HeaderDigest, t.DataDigest, t.ImmediateData, t.InitialR2T);
        foreach (int blocks in Transfers.Select(t => t.Blocks).Distinct()) cases.Add(InProcessTarget.Memory, blocks, false, false, true, false);
        return cases;
    }

    [Theory]
    [MemberData(nameof(TransferCases))]
    public async Task Writes_and_reads_back_random_data(string transport, int blocks, bool headerDigest, bool dataDigest, bool immediateData,
        bool initialR2T)
    {
        var log = new CapturedLog();
        await using var target = InProcessTarget.Start(new IscsiTargetOptions
        {
            MaxRecvDataSegmentLength = 32 * 1024, FirstBurstLength = 64 * 1024, MaxBurstLength = 256 * 1024, MaxOutstandingR2T = 4,
        }, blocks: 8192, loggerFactory: log.Factory, blockDevice: true, transport: transport);
        var options = target.SessionOptions().In(mode);
        options.HeaderDigest = headerDigest ? "CRC32C" : "None";
        options.DataDigest = dataDigest ? "CRC32C" : "None";
        options.ImmediateData = immediateData;
        options.InitialR2T = initialR2T;
        options.MaxRecvDataSegmentLength = 16 * 1024; // Data-In arrives in many PDUs
        options.LoggerFactory = log.Factory;
        await using var session = await IscsiSession.ConnectAsync(options, target.InitiatorTransport);
        bool direct = target.InMemory is not null; // data placed directly: the login is iSER's
        Assert.Equal(direct, session.Negotiated.Connection.RdmaExtensions);
        Assert.Equal(headerDigest, session.Negotiated.Connection.HeaderDigest);
        Assert.Equal(dataDigest, session.Negotiated.Connection.DataDigest);
        Assert.Equal(256 * 1024, session.Negotiated.Connection.MaxBurstLength);
        Assert.Equal(initialR2T || direct, session.Negotiated.Connection.InitialR2T);
        Assert.Equal(immediateData && !direct, session.Negotiated.Connection.ImmediateData);
        var lun = await session.OpenLunAsync(0);

        var data = new byte[blocks * 512];
        Random.Shared.NextBytes(data);
        long lba = 17;
        try { await lun.WriteAsync(lba, data); }
        catch (Exception e) { throw new Xunit.Sdk.XunitException($"{e.Message}\n{log}"); }
        var medium = new byte[data.Length];
        await target.BlockDevice!.Store.ReadAsync(lba * 512, medium);
        Assert.True(medium.AsSpan().SequenceEqual(data), "the target's medium holds what was written");
        var back = new byte[data.Length];
        await lun.ReadAsync(lba, back);
        Assert.Equal(data, back);
        // Every command's buffers were given back (Deallocate_Task_Resources) once it completed.
        if (target.InMemory is { } memory) Assert.Equal(0, Assert.Single(memory.Connections).RegisteredCommands);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Sixty_four_commands_in_flight_keep_their_data(string transport)
    {
        // A queue depth of 8 forces the initiator to hold most callers back until the window opens; a command sent
        // outside the window would be dropped by the target and hang this test.
        await using var target = InProcessTarget.Start(new IscsiTargetOptions { CommandQueueDepth = 8 }, blocks: 16384, blockDevice: true, transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), target.InitiatorTransport);
        var lun = await session.OpenLunAsync(0);
        const int Writers = 96;
        var payloads = new byte[Writers][];
        var writes = new List<Task>();
        for (int i = 0; i < Writers; i++)
        {
            int blocks = 1 + i % 24;
            payloads[i] = new byte[blocks * 512];
            Random.Shared.NextBytes(payloads[i]);
            long lba = i * 128;
            var payload = payloads[i];
            writes.Add(Task.Run(async () => await lun.WriteAsync(lba, payload)));
        }
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(30));
        var reads = new List<Task<byte[]>>();
        for (int i = 0; i < Writers; i++)
        {
            long lba = i * 128;
            int length = payloads[i].Length;
            reads.Add(Task.Run(async () =>
            {
                var buffer = new byte[length];
                await lun.ReadAsync(lba, buffer);
                return buffer;
            }));
        }
        var results = await Task.WhenAll(reads).WaitAsync(TimeSpan.FromSeconds(30));
        for (int i = 0; i < Writers; i++) Assert.Equal(payloads[i], results[i]);
        var (exp, max) = session.CommandWindow;
        Assert.True(max - exp < 8, $"window [{exp}, {max}] is at most the target's queue depth");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Check_condition_is_decoded_into_words(string transport)
    {
        await using var target = InProcessTarget.Start(blocks: 64, transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), target.InitiatorTransport);
        var cdb = new byte[10];
        cdb[0] = 0x28; // READ (10) beyond the end
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), 1000);
        cdb[8] = 1;
        var response = await session.ExecuteAsync(ScsiCommand.Read(0, cdb, new byte[512]));
        Assert.Equal(ScsiStatus.CheckCondition, response.Status);
        Assert.Equal(SenseKey.IllegalRequest, response.Sense!.SenseKey);
        Assert.Equal(0x21, response.Sense.Asc);
        Assert.Equal("CHECK CONDITION: ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)", response.Describe());
        var failure = response.ToException("READ(10)");
        Assert.Contains("READ(10)", failure.Message);
        Assert.Contains("LOGICAL BLOCK ADDRESS OUT OF RANGE", failure.Message);
        var lun = await session.OpenLunAsync(0);
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await lun.ReadAsync(60, new byte[8 * 512]));
        Assert.Contains("beyond the end", error.Message);
        await Assert.ThrowsAsync<ArgumentException>(async () => await lun.WriteAsync(0, new byte[100]));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Unit_attention_is_retried_by_the_lun_but_reported_raw_by_the_session(string transport)
    {
        await using var target = InProcessTarget.Start(blocks: 64, transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), target.InitiatorTransport);
        target.Unit.PendingUnitAttentions = 1;
        var raw = await session.ExecuteAsync(new ScsiCommand(0, new byte[6])); // TEST UNIT READY
        Assert.Equal(SenseKey.UnitAttention, raw.Sense!.SenseKey);
        target.Unit.PendingUnitAttentions = 2;
        var lun = await session.OpenLunAsync(0); // READ CAPACITY retried past two unit attentions
        Assert.Equal(64, lun.BlockCount);
        var data = new byte[1024];
        Random.Shared.NextBytes(data);
        target.Unit.PendingUnitAttentions = 1;
        await lun.WriteAsync(4, data);
        var back = new byte[1024];
        target.Unit.PendingUnitAttentions = 3;
        await lun.ReadAsync(4, back);
        Assert.Equal(data, back);
        target.Unit.PendingUnitAttentions = 4; // more than the LUN retries: the user sees why
        var error = await Assert.ThrowsAsync<ScsiCommandException>(async () => await lun.ReadAsync(4, back));
        Assert.Equal("READ(10) of 2 block(s) at LBA 4 on LUN 0", error.Command);
        Assert.Contains("UNIT ATTENTION", error.Message);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Residual_underflow_is_reported(string transport)
    {
        await using var target = InProcessTarget.Start(blocks: 64, transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), target.InitiatorTransport);
        var cdb = new byte[6];
        cdb[0] = 0x12;
        cdb[4] = 255; // allocation length 255, the LU returns 36
        var buffer = new byte[255];
        var response = await session.ExecuteAsync(ScsiCommand.Read(0, cdb, buffer));
        Assert.True(response.IsGood);
        Assert.True(response.ResidualUnderflow);
        Assert.Equal(255 - 36, response.ResidualCount);
        Assert.Equal(36, response.TransferredLength);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Flush_and_unmap_reach_the_logical_unit(string transport)
    {
        await using var target = InProcessTarget.Start(blocks: 256, transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), target.InitiatorTransport);
        var lun = await session.OpenLunAsync(0);
        var data = new byte[4 * 512];
        Random.Shared.NextBytes(data);
        await lun.WriteAsync(10, data);
        await lun.UnmapAsync(11, 2);
        await lun.FlushAsync();
        var back = new byte[data.Length];
        await lun.ReadAsync(10, back);
        Assert.Equal(data.AsSpan(0, 512).ToArray(), back.AsSpan(0, 512).ToArray());
        Assert.True(back.AsSpan(512, 1024).ToArray().All(b => b == 0));
        Assert.Equal(data.AsSpan(1536).ToArray(), back.AsSpan(1536).ToArray());
        Assert.Equal(1, target.Unit.UnmapCount);
        Assert.Equal(1, target.Unit.FlushCount);
    }

    [Theory]
    [InlineData(InProcessTarget.Tcp, false)]
    [InlineData(InProcessTarget.Tcp, true)]
    [InlineData(InProcessTarget.Memory, false)]
    [InlineData(InProcessTarget.Memory, true)]
    public async Task Logs_in_with_chap(string transport, bool mutual)
    {
        var initiatorSecret = new ChapCredentials("alice", "alice-secret-123");
        var targetSecret = new ChapCredentials("target-user", "target-secret-456");
        await using var target = InProcessTarget.Start(initiatorChap: initiatorSecret, targetChap: mutual ? targetSecret : null, transport: transport);
        var options = target.SessionOptions().In(mode);
        options.Chap = initiatorSecret;
        if (mutual) options.MutualChap = targetSecret;
        await using var session = await IscsiSession.ConnectAsync(options, target.InitiatorTransport);
        Assert.Equal("CHAP", session.Negotiated.AuthMethod);
        Assert.Equal(mutual, session.Negotiated.MutualAuthentication);
        var lun = await session.OpenLunAsync(0);
        await lun.WriteAsync(0, new byte[512]);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_target_that_refuses_md5_takes_sha256_chap_and_turns_an_md5_only_initiator_away(string transport)
    {
        var secret = new ChapCredentials("alice", "alice-secret-123");
        var targetSecret = new ChapCredentials("target-user", "target-secret-456");
        await using var target = InProcessTarget.Start(initiatorChap: secret, targetChap: targetSecret, transport: transport,
            chapAlgorithms: [ChapAlgorithm.Sha256]);
        var options = target.SessionOptions().In(mode);
        options.Chap = secret;
        options.MutualChap = targetSecret;
        options.ChapAlgorithms = [ChapAlgorithm.Sha256, ChapAlgorithm.Md5];
        await using (var session = await IscsiSession.ConnectAsync(options, target.InitiatorTransport))
        {
            Assert.True(session.Negotiated.MutualAuthentication);
            var lun = await session.OpenLunAsync(0);
            var data = new byte[512];
            Random.Shared.NextBytes(data);
            await lun.WriteAsync(0, data);
            var back = new byte[512];
            await lun.ReadAsync(0, back);
            Assert.Equal(data, back);
        }

        options.ChapAlgorithms = null; // MD5 alone, the default
        var error = await Assert.ThrowsAsync<IscsiLoginException>(() => IscsiSession.ConnectAsync(options, target.InitiatorTransport));
        Assert.Equal(LoginStatus.AuthenticationFailed, error.Status);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Wrong_chap_secret_is_a_login_failure_in_words(string transport)
    {
        await using var target = InProcessTarget.Start(initiatorChap: new ChapCredentials("alice", "alice-secret-123"), transport: transport);
        var options = target.SessionOptions().In(mode);
        options.Chap = new ChapCredentials("alice", "wrong-secret-999");
        var error = await Assert.ThrowsAsync<IscsiLoginException>(() => IscsiSession.ConnectAsync(options, target.InitiatorTransport));
        Assert.Contains("authentication failed", error.Message);
        Assert.Equal(LoginStatus.AuthenticationFailed, error.Status);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Unknown_target_is_a_login_failure_in_words(string transport)
    {
        await using var target = InProcessTarget.Start(transport: transport);
        var options = target.SessionOptions().In(mode);
        options.TargetName = "iqn.2026-11.org.iser.test:nothing";
        var error = await Assert.ThrowsAsync<IscsiLoginException>(() => IscsiSession.ConnectAsync(options, target.InitiatorTransport));
        Assert.Contains("target not found", error.Message);
    }

    [Fact]
    public async Task Connection_refused_is_a_connection_failure()
    {
        var options = new IscsiSessionOptions { Host = "127.0.0.1", Port = 1, TargetName = InProcessTarget.Iqn };
        var error = await Assert.ThrowsAsync<IscsiConnectionException>(() => IscsiSession.ConnectAsync(options, Tcp));
        Assert.Contains("127.0.0.1:1", error.Message);
    }

    [Fact]
    public async Task Discovery_lists_every_target_with_its_portal()
    {
        await using var target = InProcessTarget.Start();
        var targets = await IscsiDiscovery.DiscoverAsync("127.0.0.1", target.Port, new IscsiSessionOptions(), Tcp);
        Assert.Equal(new[] { InProcessTarget.Iqn, InProcessTarget.SecondIqn }.Order(), targets.Select(t => t.Name).Order());
        foreach (var t in targets)
        {
            var portal = Assert.Single(t.Portals);
            Assert.Equal("127.0.0.1", portal.Host);
            Assert.Equal(target.Port, portal.Port);
        }
        // The discovery session logged out: the target holds no session afterwards.
        for (int i = 0; i < 100 && target.Target.SessionCount > 0; i++) await Task.Delay(20);
        Assert.Equal(0, target.Target.SessionCount);
    }

    [Fact]
    public async Task Discovery_answer_longer_than_one_pdu_is_reassembled()
    {
        await using var target = InProcessTarget.Start();
        for (int i = 0; i < 200; i++)
        {
            var node = new TargetNode($"iqn.2026-11.org.iser.test:many-targets-with-long-names-{i:D4}");
            node.AddLun(0, new RamLogicalUnit(8));
            target.Target.AddNode(node);
        }
        var options = new IscsiSessionOptions { MaxRecvDataSegmentLength = 512 }; // forces C-bit continuation
        var targets = await IscsiDiscovery.DiscoverAsync("127.0.0.1", target.Port, options, Tcp);
        Assert.Equal(202, targets.Count);
        Assert.All(targets, t => Assert.Single(t.Portals));
    }

    [Fact]
    public async Task Url_with_credentials_and_an_ipv6_portal_logs_in()
    {
        await using var target = new IscsiTarget(new IscsiTargetOptions());
        var node = new TargetNode(InProcessTarget.Iqn) { InitiatorChap = new ChapCredentials("bob", "bob-secret-1234") };
        node.AddLun(2, new RamLogicalUnit(32));
        target.AddNode(node);
        var listener = new TcpDatamoverListener(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Loopback, 0),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        target.Listen(listener);
        var url = IscsiUrl.Parse($"iscsi://bob%bob-secret-1234@[::1]:{listener.LocalEndPoint.Port}/{InProcessTarget.Iqn}/2");
        await using var session = await IscsiSession.ConnectAsync(IscsiSessionOptions.FromUrl(url), Tcp);
        Assert.Equal($"[::1]:{listener.LocalEndPoint.Port}", session.Portal);
        Assert.Equal("CHAP", session.Negotiated.AuthMethod);
        var lun = await session.OpenLunAsync(url.Lun);
        Assert.Equal(32, lun.BlockCount);
        var targets = await session.SendTargetsAsync(""); // in a normal session: the current target (RFC 7143 Appendix C)
        Assert.Equal("::1", Assert.Single(Assert.Single(targets).Portals).Host);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Ping_measures_a_round_trip(string transport)
    {
        await using var target = InProcessTarget.Start(transport: transport);
        await using var session = await IscsiSession.ConnectAsync(target.SessionOptions().In(mode), target.InitiatorTransport);
        var rtt = await session.PingAsync(TimeSpan.FromSeconds(5));
        Assert.True(rtt > TimeSpan.Zero && rtt < TimeSpan.FromSeconds(5));
    }
}

public sealed class InitiatorAgainstTargetTestsThreadPool() : InitiatorAgainstTargetTests(CompletionMode.ThreadPool);
public sealed class InitiatorAgainstTargetTestsInline() : InitiatorAgainstTargetTests(CompletionMode.Inline);
[Collection(BusyPollCollection.Name)]
public sealed class InitiatorAgainstTargetTestsBusyPoll() : InitiatorAgainstTargetTests(CompletionMode.BusyPoll);
