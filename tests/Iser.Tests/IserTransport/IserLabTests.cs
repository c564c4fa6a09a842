using System.Diagnostics;
using System.Net;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi;
using Iser.Tests.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Our initiator against our target over iSER on the lab's soft-RoCE device (both in this process, both on
/// 169.254.10.1): login, data integrity from 512 B to 8 MiB, 64 commands in flight, no Data-In/R2T/Data-Out on
/// the wire, every work request and registration freed after logout, and a silent link found by the heartbeat; once
/// per completion mode of the initiator (the classes at the end).
/// </summary>
public abstract class IserLabTests(ITestOutputHelper output, CompletionMode mode)
{
    private const string Iqn = "iqn.2026-11.org.iser.test:iser";

    // Trace: the PDU lines prove that no Data-In, R2T or Data-Out crossed the wire.
    private static InProcessIserTarget Start(IscsiTargetOptions? options = null, IPAddress? address = null) =>
        InProcessIserTarget.Start(64L << 20, LogLevel.Trace, options, address, Iqn);

    /// <summary>Shows what the target and initiator logged (information and above, plus iSER debug lines).</summary>
    private void Dump(InProcessIserTarget lab)
    {
        foreach (var line in lab.Log.Lines)
            if (!line.Contains(" Trace ") && (!line.Contains(" Debug ") || line.Contains("Iser.Iser"))) output.WriteLine(line);
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < timeout, $"{what} did not happen within {timeout.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    [LabFact]
    public async Task InitiatorAndTargetMoveDataByRdmaOnlyAndFreeEverythingAfterLogout()
    {
        await using var lab = Start();
        var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory);
        var session = await IscsiSession.ConnectAsync(lab.SessionOptions().In(mode), transport);
        try
        {
            Assert.Equal("iser", session.TransportName);
            var negotiated = session.Negotiated.Connection;
            Assert.True(negotiated.RdmaExtensions);
            Assert.True(negotiated.InitialR2T);
            Assert.False(negotiated.ImmediateData);
            Assert.False(negotiated.HeaderDigest || negotiated.DataDigest);

            var lun = await session.OpenLunAsync(0);
            Assert.Equal(512, lun.BlockSize);

            // One command at a time, 512 B to 8 MiB (several bounce buffers per RDMA direction at the top end).
            var sw = Stopwatch.StartNew();
            int[] sizes = [512, 4096, 65536, 262144, 263680, 1 << 20, 8 << 20];
            long lba = 0;
            foreach (int size in sizes)
            {
                var data = LabEnvironment.Pattern(size, size);
                await lun.WriteAsync(lba, data);
                var back = new byte[size];
                await lun.ReadAsync(lba, back);
                Assert.True(data.AsSpan().SequenceEqual(back), $"{size} bytes read back differ from what was written at LBA {lba}");
                lba += size / 512;
            }
            output.WriteLine($"sizes 512 B..8 MiB written and read back in {sw.ElapsedMilliseconds} ms");

            // 64 commands in flight: 64 writes, then 64 reads, each 64 KiB at its own LBA.
            var (ms, mbps) = await InFlightWorkloadAsync(lun, seed: 1000);
            output.WriteLine($"iSER: 64 x 64 KiB written then read, all in flight: {ms} ms, {mbps:0.0} MB/s");

            Assert.True(IserConnectionCounters.LiveConnections >= 2);
            // Both ends at defaults receive through a shared receive queue and send from a shared pool: the connections
            // themselves register nothing; the pools, the initiators' and the listener's, do.
            Assert.Equal(0, IserConnectionCounters.RegisteredBytes);
            Assert.True(IserConnectionCounters.InitiatorControlBufferBytes > 0, "the initiator's shared control buffers are not registered");
            Assert.True(IserConnectionCounters.SharedControlBufferBytes > 0, "the target's shared control buffers are not registered");
        }
        finally
        {
            await session.LogoutAsync();
            await session.DisposeAsync();
        }

        // Both ends gone: every posted work request completed (or flushed), every QP/CQ/MR freed.
        await WaitUntil(() => IserConnectionCounters.LiveConnections == 0, TimeSpan.FromSeconds(20), "freeing both iSER connections");
        Assert.Equal(0, IserConnectionCounters.OutstandingWorkRequests);
        Assert.Equal(0, IserConnectionCounters.RegisteredBytes);
        await WaitUntil(() => IserConnectionCounters.InitiatorControlBufferBytes == 0, TimeSpan.FromSeconds(20), "freeing the initiators' shared queues after their last connection");
        Assert.True(IserConnectionCounters.PostedWorkRequests > 0);

        // RDMA-only data placement: no R2T, Data-In or Data-Out ever crossed the wire.
        var pduLines = lab.Log.Lines.Where(l => l.Contains(".Pdu:")).ToList();
        Assert.NotEmpty(pduLines);
        Assert.DoesNotContain(pduLines, l => l.Contains("DataIn") || l.Contains("DataOut") || l.Contains("ReadyToTransfer"));
        Assert.Contains(lab.Log.Lines, l => l.Contains("receives from the initiators' shared receive queue"));
        Assert.Contains(lab.Log.Lines, l => l.Contains("no registered memory of its own"));
        foreach (var line in lab.Log.Lines.Where(l => l.Contains("shared receive queue"))) output.WriteLine(line);
    }

    [LabFact]
    public async Task AtErrorRecoveryLevel1DataMovesByRdmaAndTheTargetKeepsStatusOnlyUntilAcknowledged()
    {
        await using var lab = Start();
        var options = lab.SessionOptions().In(mode);
        options.ErrorRecoveryLevel = 1;
        var session = await IscsiSession.ConnectAsync(options, InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory));
        try
        {
            Assert.Equal("iser", session.TransportName);
            Assert.Equal(1, session.Negotiated.ErrorRecoveryLevel);
            var lun = await session.OpenLunAsync(0);
            foreach (int size in new[] { 4096, 1 << 20 })
            {
                var data = LabEnvironment.Pattern(size, size + 7);
                await lun.WriteAsync(0, data);
                var back = new byte[size];
                await lun.ReadAsync(0, back);
                Assert.True(data.AsSpan().SequenceEqual(back), $"{size} bytes read back differ at ERL 1");
            }
            await InFlightWorkloadAsync(lun, seed: 2000);
            // RDMA placement is never resent (RFC 7145): the kept tasks hold their status, no read data and no lent buffer.
            var (tasks, bytes) = lab.Target.RetainedForRecovery;
            Assert.Equal(0, bytes);
            Assert.True(tasks <= 128, $"{tasks} tasks kept");
            Assert.Equal(0, session.SnacksSent);
            Assert.Equal(0, session.CommandRetries);
        }
        finally
        {
            await session.LogoutAsync();
            await session.DisposeAsync();
        }
        await WaitUntil(() => IserConnectionCounters.LiveConnections == 0, TimeSpan.FromSeconds(20), "freeing both iSER connections");
        Assert.Equal(0, IserConnectionCounters.RegisteredBytes);
        Assert.Equal((0, 0L), lab.Target.RetainedForRecovery);
    }

    /// <summary>MC/S over iSER: four RDMA connections in one session (the joining ones negotiate no RDMAExtensions, they
    /// have the session's), commands spread over them, every byte by RDMA, everything freed after logout.</summary>
    [LabFact]
    public async Task FourIserConnectionsShareOneSessionAndAreAllFreedAfterLogout()
    {
        await using var lab = Start();
        var options = lab.SessionOptions().In(mode);
        options.MaxConnections = 4;
        var session = await IscsiSession.ConnectAsync(options, InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory));
        try
        {
            Assert.Equal("iser", session.TransportName);
            Assert.Equal(4, session.ConnectionCount);
            Assert.Equal(1, lab.Target.SessionCount);
            Assert.True(IserConnectionCounters.LiveConnections >= 8, $"{IserConnectionCounters.LiveConnections} live iSER connections"); // four on each side
            var lun = await session.OpenLunAsync(0);
            await InFlightWorkloadAsync(lun, seed: 3000);
        }
        finally
        {
            await session.LogoutAsync();
            await session.DisposeAsync();
        }
        await WaitUntil(() => IserConnectionCounters.LiveConnections == 0, TimeSpan.FromSeconds(20), "freeing all eight iSER connections");
        Assert.Equal(0, IserConnectionCounters.RegisteredBytes);
        Assert.Equal(0, lab.Target.SessionCount);
    }

    [LabFact]
    public async Task AShortReadIsZeroFilledToTheExpectedLengthInTheInitiatorsBuffer()
    {
        // Our initiator registers the caller's buffer itself (zero copy), so the bytes past the returned INQUIRY data
        // are whatever the target's RDMA WRITE put there: zeros, not the 0xAA this buffer held before (libiscsi shows
        // its application the whole expected length, see IserTargetDatamover.ZeroFillAfter).
        await using var lab = Start();
        var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory);
        var session = await IscsiSession.ConnectAsync(lab.SessionOptions().In(mode), transport);
        try
        {
            Assert.Equal("iser", session.TransportName);
            foreach (int allocation in new[] { 255, 4096 })
            {
                var buffer = new byte[allocation];
                buffer.AsSpan().Fill(0xAA);
                byte[] cdb = [0x12, 0, 0, (byte)(allocation >> 8), (byte)allocation, 0]; // standard INQUIRY
                var response = await session.ExecuteAsync(0, cdb, buffer, default);
                Assert.True(response.IsGood, response.Describe());
                int returned = buffer[4] + 5;
                Assert.True(returned is >= 36 and < 255, $"INQUIRY returned {returned} bytes");
                Assert.True(response.ResidualUnderflow);
                Assert.Equal(allocation - returned, response.ResidualCount);
                int stale = buffer.AsSpan(returned).IndexOfAnyExcept((byte)0);
                Assert.True(stale < 0, $"allocation {allocation}: byte {returned + stale} past the {returned} returned is 0x{buffer[returned + stale]:x2}, not zero");
            }
        }
        finally
        {
            await session.LogoutAsync();
            await session.DisposeAsync();
        }
    }

    [LabFact]
    public async Task AWriteFromAnInitiatorThatAcceptsNoRdmaReadsEndsWithCheckConditionAndTheConnectionCarriesOn()
    {
        // A connect request with responder_resources 0 leaves the target no RDMA READ to fetch write data with. The
        // write must end with a status the initiator can act on (ABORTED COMMAND, DATA PHASE ERROR), not with a task
        // the target silently drops, and the connection must carry on: a read after it works.
        await using var lab = Start();
        var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory, new IserOptions { InitiatorResponderResources = 0 });
        var session = await IscsiSession.ConnectAsync(lab.SessionOptions().In(mode), transport);
        try
        {
            Assert.Equal("iser", session.TransportName);
            var data = LabEnvironment.Pattern(4096, 7);
            byte[] write10 = [0x2a, 0, 0, 0, 0x10, 0, 0, 0, 8, 0]; // WRITE(10), LBA 4096, 8 blocks
            var written = await session.ExecuteAsync(0, write10, default, data);
            AssertDataPhaseError(written);

            var back = new byte[4096];
            byte[] read10 = [0x28, 0, 0, 0, 0x10, 0, 0, 0, 8, 0];
            var read = await session.ExecuteAsync(0, read10, back, default);
            Assert.True(read.IsGood, read.Describe());
            Assert.False(back.AsSpan().SequenceEqual(data), "the refused write reached the logical unit");
            Assert.Contains(lab.Log.Lines, l => l.Contains("accepts no RDMA READs (responder_resources 0)"));
            Assert.Contains(lab.Log.Lines, l => l.Contains("needs 4096 bytes of write data, but the initiator accepts no RDMA READs"));
        }
        finally
        {
            await session.LogoutAsync();
            await session.DisposeAsync();
        }
    }

    [LabFact]
    public async Task AReadWhoseInitiatorAdvertisesNoReadBufferEndsWithCheckConditionAndTheConnectionCarriesOn()
    {
        // A read command whose iSER header carries no Read STag leaves the target nowhere to RDMA WRITE the data: the
        // read must end with ABORTED COMMAND / DATA PHASE ERROR (not a dropped task the initiator waits out), nothing
        // lands in the initiator's buffer, and the connection carries on: a write after it works.
        await using var lab = Start();
        var transport = InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory, new IserOptions { InitiatorAdvertisesReadBuffers = false });
        var session = await IscsiSession.ConnectAsync(lab.SessionOptions().In(mode), transport);
        try
        {
            Assert.Equal("iser", session.TransportName);
            var back = new byte[8192];
            back.AsSpan().Fill(0xee);
            byte[] read10 = [0x28, 0, 0, 0, 0x20, 0, 0, 0, 16, 0]; // READ(10), LBA 8192, 16 blocks
            var read = await session.ExecuteAsync(0, read10, back, default);
            AssertDataPhaseError(read);
            Assert.True(back.AsSpan().IndexOfAnyExcept((byte)0xee) < 0, "data reached a buffer the initiator never advertised");

            byte[] write10 = [0x2a, 0, 0, 0, 0x20, 0, 0, 0, 16, 0];
            var written = await session.ExecuteAsync(0, write10, default, LabEnvironment.Pattern(8192, 11));
            Assert.True(written.IsGood, written.Describe());
            Assert.Contains(lab.Log.Lines, l => l.Contains("has 8192 bytes of read data, but the initiator advertised no Read STag"));
        }
        finally
        {
            await session.LogoutAsync();
            await session.DisposeAsync();
        }
    }

    /// <summary>CHECK CONDITION, ABORTED COMMAND / DATA PHASE ERROR (4Bh/00h): the status of a task whose data cannot move.</summary>
    private static void AssertDataPhaseError(ScsiResponse response)
    {
        Assert.Equal(ScsiStatus.CheckCondition, response.Status);
        Assert.NotNull(response.Sense);
        Assert.Equal(SenseKey.AbortedCommand, response.Sense!.SenseKey);
        Assert.Equal(0x4b, response.Sense.Asc);
        Assert.Equal(0x00, response.Sense.Ascq);
    }

    /// <summary>64 writes of 64 KiB in flight, then 64 reads of the same blocks, each checked.</summary>
    private static async Task<(long Ms, double MBps)> InFlightWorkloadAsync(IscsiLun lun, int seed)
    {
        const int inFlight = 64, each = 65536;
        var blocks = Enumerable.Range(0, inFlight).Select(i => LabEnvironment.Pattern(each, seed + i)).ToArray();
        var reads = Enumerable.Range(0, inFlight).Select(_ => new byte[each]).ToArray();
        long baseLba = 40000;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(blocks.Select((b, i) => lun.WriteAsync(baseLba + i * (each / 512), b).AsTask()));
        await Task.WhenAll(reads.Select((r, i) => lun.ReadAsync(baseLba + i * (each / 512), r).AsTask()));
        long ms = Math.Max(1, sw.ElapsedMilliseconds);
        for (int i = 0; i < inFlight; i++)
            Assert.True(blocks[i].AsSpan().SequenceEqual(reads[i]), $"command {i} of {inFlight}: data differs");
        return (ms, 2.0 * inFlight * each / 1024 / 1024 / (ms / 1000.0));
    }

    [LabFact]
    public async Task TheSameWorkloadOverTcpInTheSameGuestForComparison()
    {
        await using var lab = Start();
        var tcp = new TcpDatamoverListener(new IPEndPoint(LabEnvironment.Address, 0), lab.Log.Factory.CreateLogger("Iser.Tcp"));
        lab.Target.Listen(tcp);
        var options = lab.SessionOptions().In(mode);
        options.Port = tcp.LocalEndPoint.Port;
        await using var session = await IscsiSession.ConnectAsync(options, InitiatorTransports.Create(TransportKind.Tcp, lab.Log.Factory));
        var lun = await session.OpenLunAsync(0);
        await InFlightWorkloadAsync(lun, seed: 1); // warm-up (JIT)
        var (ms, mbps) = await InFlightWorkloadAsync(lun, seed: 2000);
        output.WriteLine($"TCP: 64 x 64 KiB written then read, all in flight: {ms} ms, {mbps:0.0} MB/s");

        var iserSession = await IscsiSession.ConnectAsync(lab.SessionOptions().In(mode), InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory));
        try
        {
            var iserLun = await iserSession.OpenLunAsync(0);
            await InFlightWorkloadAsync(iserLun, seed: 1);
            (ms, mbps) = await InFlightWorkloadAsync(iserLun, seed: 3000);
            output.WriteLine($"iSER: 64 x 64 KiB written then read, all in flight: {ms} ms, {mbps:0.0} MB/s");
        }
        finally
        {
            await iserSession.DisposeAsync();
        }
    }

    [LabFact]
    public async Task ASilentLinkIsFoundByTheHeartbeatOnBothSidesAndEverythingIsFreed()
    {
        // Timings generous enough for a TCG guest on a loaded host (a login there can take 10 s), tight enough to prove detection.
        var options = new IscsiTargetOptions { IserNopInInterval = TimeSpan.FromSeconds(3), IserNopInTimeout = TimeSpan.FromSeconds(6) };
        // rxe0 hands packets to its own address back inside the driver, where no filter sees them: use the lab's
        // wire instead (rxe_wire0 169.254.11.1 -> veth -> rxe_wire1 169.254.11.2), whose RoCE traffic nftables can drop.
        var wire0 = IPAddress.Parse(Environment.GetEnvironmentVariable("LAB_WIRE_ADDR0") ?? "169.254.11.1");
        var wire1 = IPAddress.Parse(Environment.GetEnvironmentVariable("LAB_WIRE_ADDR1") ?? "169.254.11.2");
        await using var lab = Start(options, address: wire1);
        var sessionOptions = lab.SessionOptions().In(mode);
        sessionOptions.NopInterval = TimeSpan.FromSeconds(3);
        sessionOptions.NopTimeout = TimeSpan.FromSeconds(6);
        sessionOptions.Reconnect.Enabled = false;
        var session = await IscsiSession.ConnectAsync(sessionOptions,
            InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory, new IserOptions { SourceAddress = wire0 }));
        try
        {
        var lun = await session.OpenLunAsync(0);
        await lun.WriteAsync(0, new byte[4096]);
        Assert.Equal(1, lab.Target.SessionCount);

        // RoCE v2 is UDP 4791: dropping it silences the link without any event (README of native/lab).
        Run("nft", "add table inet iserlab");
        try
        {
            Run("nft", "add chain inet iserlab out { type filter hook output priority 0 ; }");
            Run("nft", "add rule inet iserlab out udp dport 4791 drop");
            var sw = Stopwatch.StartNew();
            await WaitUntil(() => lab.Target.SessionCount == 0, TimeSpan.FromSeconds(40), "the target dropping the silent session");
            output.WriteLine($"target gave up after {sw.ElapsedMilliseconds} ms");
            await WaitUntil(() => session.State is IscsiSessionState.Failed, TimeSpan.FromSeconds(40), "the initiator failing the silent session");
            output.WriteLine($"initiator gave up after {sw.ElapsedMilliseconds} ms: {session.FailureReason}");
            // Interval + timeout = 9 s on each side, plus the ping loop's tick and the guest's slowness.
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"detection took {sw.Elapsed.TotalSeconds:0.0} s with a 3 s interval and 6 s timeout");
        }
        finally
        {
            Run("nft", "delete table inet iserlab");
        }
        await session.DisposeAsync();
        Assert.Contains(lab.Log.Lines, l => l.Contains("did not answer a NOP-In ping") || l.Contains("iSER connection") && l.Contains("failed"));
        await WaitUntil(() => IserConnectionCounters.LiveConnections == 0, TimeSpan.FromSeconds(30), "freeing both iSER connections after the silent link");
        Assert.Equal(0, IserConnectionCounters.OutstandingWorkRequests);
        }
        finally
        {
            Dump(lab);
        }
    }

    [LabFact]
    public async Task AutoTransportUsesIserWhenTheTargetOffersIt()
    {
        await using var lab = Start();
        var transport = InitiatorTransports.Create(TransportKind.Auto, lab.Log.Factory);
        var session = await IscsiSession.ConnectAsync(lab.SessionOptions().In(mode), transport);
        try
        {
            Assert.Equal("iser", transport.TransportName);
            Assert.Null(((AutoInitiatorTransport)transport).LastFallbackReason);
            var lun = await session.OpenLunAsync(0);
            Assert.True(lun.BlockCount > 0);
        }
        finally
        {
            await session.DisposeAsync();
        }
        await WaitUntil(() => IserConnectionCounters.LiveConnections == 0, TimeSpan.FromSeconds(20), "freeing both iSER connections");
    }

    [LabFact(Needs = ["iscsi-inq"])]
    public async Task LibiscsiInquiresOurTargetOverIser()
    {
        await using var lab = Start();
        string url = lab.LunUrl;
        var psi = new ProcessStartInfo("iscsi-inq", $"-i iqn.2026-11.org.example:libiscsi {url}") { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(timeout.Token);
        output.WriteLine($"iscsi-inq {url} -> {p.ExitCode}\n{await stdout}\n{await stderr}");
        Assert.Equal(0, p.ExitCode);
        Assert.Contains("Vendor", await stdout, StringComparison.OrdinalIgnoreCase);
        await WaitUntil(() => lab.Target.SessionCount == 0, TimeSpan.FromSeconds(20), "libiscsi's session ending");
        await WaitUntil(() => IserConnectionCounters.LiveConnections == 0, TimeSpan.FromSeconds(20), "freeing the target's iSER connection");
    }

    private void Run(string file, string arguments)
    {
        using var p = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        p.WaitForExit();
        string err = p.StandardError.ReadToEnd();
        output.WriteLine($"{file} {arguments} -> {p.ExitCode} {err}");
        Assert.True(p.ExitCode == 0, $"{file} {arguments} failed: {err}");
    }
}

// The counters are process-wide: these tests must not overlap, across modes too.
[Trait("Category", "Lab")]
[Collection("iSER lab")]
public sealed class IserLabTestsThreadPool(ITestOutputHelper output) : IserLabTests(output, CompletionMode.ThreadPool);

[Trait("Category", "Lab")]
[Collection("iSER lab")]
public sealed class IserLabTestsInline(ITestOutputHelper output) : IserLabTests(output, CompletionMode.Inline);

[Trait("Category", "Lab")]
[Collection("iSER lab")]
public sealed class IserLabTestsBusyPoll(ITestOutputHelper output) : IserLabTests(output, CompletionMode.BusyPoll);
