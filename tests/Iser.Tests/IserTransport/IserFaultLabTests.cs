using System.Collections.Concurrent;
using System.Diagnostics;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// iSER faults in the soft-RoCE lab guest: an initiator process killed in the middle of its I/O (libiscsi's
/// iscsi-perf, and our own `iser perf`) must leave our target with no session, connection, work request or
/// registration behind and still serving; an iSER connection dropped under 32 writes in flight, by the initiator
/// or by the target, must lose no acknowledged write, recover over iSER and free everything after logout.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // the counters are process-wide: these tests must not overlap
public sealed class IserFaultLabTests(ITestOutputHelper output)
{
    private const string Iqn = "iqn.2026-11.org.iser.test:faults";
    private const string PerfInitiatorIqn = "iqn.2026-11.org.example:perf";
    // Generous for a TCG guest on a shared 2-core host, bounded so a leak or hang fails instead of blocking the run.
    private static readonly TimeSpan FreeBound = TimeSpan.FromSeconds(40);

    // Debug, not Trace: PDU lines under a continuous load would swamp the guest.
    private static InProcessIserTarget Start() => InProcessIserTarget.Start(128L << 20, LogLevel.Debug, iqn: Iqn);

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < timeout, $"{what()} did not happen within {timeout.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    private static Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what) => WaitUntil(condition, timeout, () => what);

    /// <summary>The counters are process-wide: a test starts only once whatever ran before it has been freed.</summary>
    private static Task NothingLiveBeforeStart() =>
        WaitUntil(() => IserConnectionCounters.LiveConnections == 0 && IserConnectionCounters.OutstandingWorkRequests == 0,
            FreeBound, () => $"freeing what an earlier test left ({IserConnectionCounters.LiveConnections} live iSER connections)");

    private static async Task EverythingFreed(string when)
    {
        await WaitUntil(() => IserConnectionCounters.LiveConnections == 0, FreeBound,
            () => $"freeing every iSER connection {when} ({IserConnectionCounters.LiveConnections} still live, {IserConnectionCounters.OutstandingWorkRequests} WRs outstanding)");
        Assert.Equal(0, IserConnectionCounters.OutstandingWorkRequests);
        Assert.Equal(0, IserConnectionCounters.RegisteredBytes);
    }

    private void Show(InProcessIserTarget lab, Func<string, bool> which)
    {
        foreach (var line in lab.Log.Lines)
            if (which(line)) output.WriteLine(line);
    }

    /// <summary>Lines that say why a connection or session went away.</summary>
    private static bool IsTeardownLine(string line) =>
        line.Contains(" ended: ") || line.Contains("was lost") || line.Contains("closed the connection") || line.Contains("recovered")
        || line.Contains("re-issuing") || line.Contains("failed") || line.Contains(" freed (") || line.Contains("Disconnected")
        || line.Contains("did not answer");

    // ---------------------------------------------------------------- 1. initiator process killed mid-I/O

    [LabFact(Needs = ["iscsi-perf"])]
    public async Task KillingLibiscsiPerfMidReadLeavesNothingOnTheTargetAndItStillServes()
    {
        await using var lab = Start();
        // 32 random reads of 8 blocks in flight, forever (until killed).
        await KillMidIoAndCheckAsync(lab, "iscsi-perf", ["-i", PerfInitiatorIqn, "-m", "32", "-b", "8", "-r", lab.LunUrl]);
    }

    [LabFact]
    public async Task KillingOurPerfCliMidReadWriteLeavesNothingOnTheTargetAndItStillServes()
    {
        // The test project references src/Cli, so iser.dll (with its runtimeconfig) is built beside this assembly.
        string cli = Path.Combine(AppContext.BaseDirectory, "iser.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing: build tests/Iser.Tests (it builds src/Cli) first.");
        await using var lab = Start();
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        // Reads and writes (RDMA WRITE and READ on the target), 32 in flight, longer than the test will let it live.
        await KillMidIoAndCheckAsync(lab, dotnet,
            [cli, "perf", lab.LunUrl, "--mode", "randrw", "--mix", "50", "-b", "16k", "-q", "32", "-t", "600s", "--transport", "iser"]);
    }

    private async Task KillMidIoAndCheckAsync(InProcessIserTarget lab, string file, string[] arguments)
    {
        await NothingLiveBeforeStart();
        long postedBefore = IserConnectionCounters.PostedWorkRequests;
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        var peerOutput = new ConcurrentQueue<string>();
        using var peer = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        peer.OutputDataReceived += (_, e) => { if (e.Data is not null) peerOutput.Enqueue("out: " + e.Data); };
        peer.ErrorDataReceived += (_, e) => { if (e.Data is not null) peerOutput.Enqueue("err: " + e.Data); };
        peer.BeginOutputReadLine();
        peer.BeginErrorReadLine();
        string PeerText() => $"{Path.GetFileName(file)} {string.Join(' ', arguments)}\n{string.Join('\n', peerOutput)}";
        try
        {
            var sw = Stopwatch.StartNew();
            // I/O flows: the peer's session is up and the target has posted thousands of work requests since (data moved
            // by RDMA READ/WRITE plus the SCSI Response SENDs, and the data buffers registered on first use).
            await WaitUntil(() => peer.HasExited || lab.Target.SessionCount >= 1, TimeSpan.FromSeconds(120), () => $"a session from the peer\n{PeerText()}");
            Assert.False(peer.HasExited, $"the peer exited with {(peer.HasExited ? peer.ExitCode : 0)} before its I/O began\n{PeerText()}");
            long postedAtLogin = IserConnectionCounters.PostedWorkRequests;
            await WaitUntil(() => peer.HasExited || IserConnectionCounters.PostedWorkRequests - postedAtLogin >= 3000, TimeSpan.FromSeconds(120),
                () => $"3000 work requests on the target (only {IserConnectionCounters.PostedWorkRequests - postedAtLogin})\n{PeerText()}");
            Assert.False(peer.HasExited, $"the peer exited with {(peer.HasExited ? peer.ExitCode : 0)} during its I/O\n{PeerText()}");
            Assert.Equal(1, IserConnectionCounters.LiveConnections);
            long registeredUnderLoad = IserConnectionCounters.RegisteredBytes;
            long outstandingAtKill = IserConnectionCounters.OutstandingWorkRequests;
            long sharedReceivesAtKill = IserConnectionCounters.SharedReceivesPosted;
            output.WriteLine($"I/O flowing after {sw.ElapsedMilliseconds} ms: {IserConnectionCounters.PostedWorkRequests - postedAtLogin} WRs posted by the target, "
                + $"{outstandingAtKill} outstanding, {sharedReceivesAtKill} receives posted to the shared receive queue, {registeredUnderLoad / 1024} KiB registered; killing process {peer.Id}");
            // The connection's receives are the listener's (its SRQ), counted apart; between two commands the connection
            // itself may have nothing posted, but a receive is always waiting for the peer's next PDU.
            Assert.True(outstandingAtKill + sharedReceivesAtKill > 0, "the target had no work request outstanding: the kill would not be mid-I/O");

            peer.Kill(entireProcessTree: true);
            await peer.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            var afterKill = Stopwatch.StartNew();
            await WaitUntil(() => lab.Target.SessionCount == 0, FreeBound, "the target ending the killed initiator's session");
            output.WriteLine($"session gone {afterKill.ElapsedMilliseconds} ms after SIGKILL");
            await EverythingFreed("after the initiator process was killed");
            output.WriteLine($"connection, work requests and {registeredUnderLoad / 1024} KiB of registrations freed {afterKill.ElapsedMilliseconds} ms after SIGKILL");
        }
        finally
        {
            if (!peer.HasExited) peer.Kill(entireProcessTree: true);
            output.WriteLine(PeerText());
            output.WriteLine("--- what the target logged about the lost connection:");
            Show(lab, IsTeardownLine);
        }
        // The reason in words: the target's session-ended line carries it.
        Assert.Contains(lab.Log.Lines, l => l.Contains("Session ") && l.Contains(" ended: "));
        Assert.True(IserConnectionCounters.PostedWorkRequests > postedBefore);

        // The target still serves: a fresh session of ours writes 32 x 64 KiB in flight and reads them back.
        var session = await IscsiSession.ConnectAsync(lab.SessionOptions(), InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory));
        try
        {
            Assert.Equal("iser", session.TransportName);
            var lun = await session.OpenLunAsync(0);
            const int count = 32, each = 65536;
            var blocks = Enumerable.Range(0, count).Select(i => LabEnvironment.Pattern(each, 7000 + i)).ToArray();
            await Task.WhenAll(blocks.Select((b, i) => lun.WriteAsync(i * (each / 512), b).AsTask()));
            for (int i = 0; i < count; i++)
            {
                var back = new byte[each];
                await lun.ReadAsync(i * (each / 512), back);
                Assert.True(blocks[i].AsSpan().SequenceEqual(back), $"after the kill, block {i} read back differs from what was written");
            }
            await session.LogoutAsync();
        }
        finally
        {
            await session.DisposeAsync();
        }
        await WaitUntil(() => lab.Target.SessionCount == 0, FreeBound, "the target ending the fresh session after logout");
        await EverythingFreed("after the fresh session logged out");
    }

    // ---------------------------------------------------------------- 2./3. a connection dropped under load

    /// <summary>Hands out the iSER transport's datamovers and remembers each, so a test can drop the current connection.</summary>
    private sealed class RecordingTransport(IInitiatorTransport inner) : IInitiatorTransport
    {
        public ConcurrentQueue<IInitiatorDatamover> Connections { get; } = new();
        public string TransportName => inner.TransportName;

        public async ValueTask<IInitiatorDatamover> ConnectAsync(string host, int port, CancellationToken cancellationToken)
        {
            var datamover = await inner.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            Connections.Enqueue(datamover);
            return datamover;
        }
    }

    [LabFact]
    public async Task TheInitiatorDroppingItsIserConnectionUnderLoadLosesNoAcknowledgedWrite()
    {
        await DropUnderLoadAsync(async (lab, transport) =>
        {
            // rdma_disconnect and the QP to the error state, from our side: every posted work request flushes.
            var connection = (IserConnection)transport.Connections.Last();
            await connection.TerminateAsync("the test dropped the initiator's iSER connection");
            return "initiator";
        },
        // The initiator names its own reason; the target saw the initiator close the connection.
        initiatorReason: "closed on this side (the test dropped the initiator's iSER connection)", targetReason: "connection closed by initiator");
    }

    [LabFact]
    public async Task TheTargetDroppingTheIserConnectionUnderLoadLosesNoAcknowledgedWrite()
    {
        await DropUnderLoadAsync(async (lab, transport) =>
        {
            var connections = lab.Target.ConnectionsOf(lab.Node).ToList();
            Assert.Single(connections);
            // The transport goes down under the target: rdma_disconnect on its side, no iSCSI-level courtesy.
            var connection = (IserConnection)connections[0].Datamover;
            await connection.TerminateAsync("the test dropped the target's iSER connection");
            return "target";
        },
        initiatorReason: "closed the connection.", targetReason: "closed on this side (the test dropped the target's iSER connection)");
    }

    /// <summary>
    /// 32 writes in flight, the connection dropped by <paramref name="drop"/>, recovery, every acknowledged write read
    /// back, logout, everything freed; the initiator's "was lost" line must contain <paramref name="initiatorReason"/>
    /// and the target's "Session ... ended" line <paramref name="targetReason"/>.
    /// </summary>
    private async Task DropUnderLoadAsync(Func<InProcessIserTarget, RecordingTransport, Task<string>> drop, string initiatorReason, string targetReason)
    {
        await NothingLiveBeforeStart();
        await using var lab = Start();
        var transport = new RecordingTransport(InitiatorTransports.Create(TransportKind.Iser, lab.Log.Factory));
        var options = lab.SessionOptions();
        options.Reconnect.Enabled = true;
        options.Reconnect.ReplacementTimeout = TimeSpan.FromSeconds(60);
        var session = await IscsiSession.ConnectAsync(options, transport);
        string side = "?";
        try
        {
            Assert.Equal("iser", session.TransportName);
            var lun = await session.OpenLunAsync(0);

            // 32 writers, each writing 32 KiB slots it never writes twice (so a re-issued write can only repeat the same
            // data), from its own reused buffer (one registration per writer). A slot's pattern is a function of its number.
            const int writers = 32, each = 32 * 1024, blocksPerSlot = each / 512;
            long slots = lun.BlockCount / blocksPerSlot;
            var acknowledged = new ConcurrentBag<long>();
            var failed = new ConcurrentQueue<string>();
            long nextSlot = -1;
            int ackedAfterRecovery = 0;
            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                var buffer = new byte[each];
                while (!stop.IsCancellationRequested)
                {
                    long slot = Interlocked.Increment(ref nextSlot);
                    if (slot >= slots) return;
                    new Random((int)slot).NextBytes(buffer);
                    try
                    {
                        await lun.WriteAsync(slot * blocksPerSlot, buffer);
                        acknowledged.Add(slot);
                        if (session.ReconnectCount > 0) Interlocked.Increment(ref ackedAfterRecovery);
                    }
                    catch (Exception e)
                    {
                        failed.Enqueue($"slot {slot}: {e.Message}");
                    }
                }
            })).ToArray();
            var loadDone = Task.WhenAll(load);

            var sw = Stopwatch.StartNew();
            await WaitUntil(() => acknowledged.Count >= 300 || loadDone.IsCompleted, TimeSpan.FromSeconds(120), () => $"300 acknowledged writes (only {acknowledged.Count})");
            Assert.True(session.OutstandingCommands > 0, "no command was outstanding: the drop would not be under load");
            int ackedBeforeDrop = acknowledged.Count;
            output.WriteLine($"{ackedBeforeDrop} writes acknowledged after {sw.ElapsedMilliseconds} ms; {session.OutstandingCommands} outstanding; dropping the connection");
            var dropClock = Stopwatch.StartNew();
            side = await drop(lab, transport);

            await WaitUntil(() => session.ReconnectCount >= 1 && session.State == IscsiSessionState.LoggedIn || loadDone.IsCompleted,
                TimeSpan.FromSeconds(90), () => $"the session recovering (state {session.State}, {session.FailureReason})");
            output.WriteLine($"recovered {dropClock.ElapsedMilliseconds} ms after the {side} dropped the connection (state {session.State})");
            // Keep the load on until the new connection has carried a few hundred more writes.
            await WaitUntil(() => Volatile.Read(ref ackedAfterRecovery) >= 300 || loadDone.IsCompleted, TimeSpan.FromSeconds(120),
                () => $"300 writes acknowledged after recovery (only {Volatile.Read(ref ackedAfterRecovery)})");
            stop.Cancel();
            await loadDone.WaitAsync(TimeSpan.FromSeconds(120));

            Assert.True(failed.IsEmpty, $"{failed.Count} writes failed although the session recovered:\n{string.Join('\n', failed.Take(10))}");
            Assert.Equal(1, session.ReconnectCount);
            Assert.Equal(IscsiSessionState.LoggedIn, session.State);
            Assert.Equal(2, transport.Connections.Count); // the first connection and its iSER replacement
            Assert.All(transport.Connections, c => Assert.IsAssignableFrom<IserConnection>(c));
            Assert.True(ackedBeforeDrop >= 300 && Volatile.Read(ref ackedAfterRecovery) >= 300);

            // Every acknowledged write reads back equal (32 readers, each with its own buffers).
            var toCheck = new ConcurrentQueue<long>(acknowledged.OrderBy(s => s));
            var mismatches = new ConcurrentQueue<long>();
            await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                var expected = new byte[each];
                var back = new byte[each];
                while (toCheck.TryDequeue(out long slot))
                {
                    await lun.ReadAsync(slot * blocksPerSlot, back);
                    new Random((int)slot).NextBytes(expected);
                    if (!expected.AsSpan().SequenceEqual(back)) mismatches.Enqueue(slot);
                }
            })));
            Assert.True(mismatches.IsEmpty, $"{mismatches.Count} of {acknowledged.Count} acknowledged writes read back different, e.g. slots {string.Join(", ", mismatches.Take(10))}");
            output.WriteLine($"{acknowledged.Count} acknowledged 32 KiB writes ({ackedBeforeDrop} before the drop) read back equal; {sw.ElapsedMilliseconds} ms in all");

            await session.LogoutAsync();
        }
        finally
        {
            await session.DisposeAsync();
            output.WriteLine($"--- what was logged about the connection the {side} dropped:");
            Show(lab, IsTeardownLine);
        }
        // The initiator says why it lost the connection, and that it logged in again.
        Assert.Contains(lab.Log.Lines, l => l.Contains("Iser.Initiator:") && l.Contains("was lost") && l.Contains("logging in again") && l.Contains(initiatorReason));
        Assert.Contains(lab.Log.Lines, l => l.Contains("Iser.Target.Connection:") && l.Contains("TSIH 1 ") && l.Contains(" ended: ") && l.Contains(targetReason));
        Assert.Contains(lab.Log.Lines, l => l.Contains("Iser.Initiator:") && l.Contains("recovered"));
        await WaitUntil(() => lab.Target.SessionCount == 0, FreeBound, "the target ending the session after logout");
        await EverythingFreed("after logout");
    }
}
