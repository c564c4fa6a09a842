using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Tests.Initiator;
using Iser.Tests.Peers;
using Iser.Transport.Tcp;

namespace Iser.Tests.Recovery;

/// <summary>The PDU-aware fault proxy: in-process (<see cref="PduFaultProxy"/>) and as a Python process (tests/tools/iscsi-fault-proxy.py).</summary>
public class PduFaultProxyTests
{
    private static readonly TcpInitiatorTransport Tcp = new();

    private static byte[] RandomBytes(int length)
    {
        var data = new byte[length];
        Random.Shared.NextBytes(data);
        return data;
    }

    private static IscsiSessionOptions DigestOptions(InProcessTarget target, int port)
    {
        var options = target.SessionOptions(port);
        options.HeaderDigest = "CRC32C";
        options.DataDigest = "CRC32C";
        options.NopInterval = TimeSpan.Zero; // no keep-alive NOP-Outs in the counts
        options.Reconnect.Enabled = false;
        return options;
    }

    private static InProcessTarget StartTarget(CapturedLog? log = null) =>
        InProcessTarget.Start(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero }, blocks: 4096, loggerFactory: log?.Factory);

    private static string Show(PduFaultProxy proxy) => "proxy log:\n" + string.Join("\n", proxy.Log);

    [Fact]
    public async Task Relays_a_digested_session_cleanly_and_counts_its_pdus()
    {
        await using var target = StartTarget();
        await using var proxy = new PduFaultProxy(target.Port);
        await using var session = await IscsiSession.ConnectAsync(DigestOptions(target, proxy.Port), Tcp);
        Assert.True(session.Negotiated.Connection.HeaderDigest && session.Negotiated.Connection.DataDigest);
        var lun = await session.OpenLunAsync(0);
        int commandsBefore = proxy.Count(Direction.ToTarget, IscsiOpcode.ScsiCommand);
        int dataInBefore = proxy.Count(Direction.ToInitiator, IscsiOpcode.DataIn);

        var data = RandomBytes(1024 * 1024);
        await lun.WriteAsync(8, data);
        var back = new byte[data.Length];
        await lun.ReadAsync(8, back);
        Assert.True(data.AsSpan().SequenceEqual(back), "1 MiB read back through the proxy equals what was written");

        Assert.Equal(1, proxy.AcceptedConnections);
        Assert.Contains(proxy.Log, l => l.Contains("full feature phase, HeaderDigest=CRC32C DataDigest=CRC32C"));
        Assert.Equal(2, proxy.Count(Direction.ToTarget, IscsiOpcode.ScsiCommand) - commandsBefore);
        // The write: 64 KiB immediate data (FirstBurstLength), the rest solicited by R2T in Data-Outs of at most 256 KiB
        // (the target's MaxRecvDataSegmentLength). The read: 4 Data-Ins of 256 KiB (ours).
        Assert.True(proxy.Count(Direction.ToInitiator, IscsiOpcode.ReadyToTransfer) >= 1, Show(proxy));
        Assert.True(proxy.Count(Direction.ToTarget, IscsiOpcode.DataOut) >= 4, Show(proxy));
        Assert.Equal(4, proxy.Count(Direction.ToInitiator, IscsiOpcode.DataIn) - dataInBefore);
        Assert.True(proxy.Count(Direction.ToInitiator, IscsiOpcode.ScsiResponse) >= 1, Show(proxy)); // the write's, at least
        Assert.Equal(0, proxy.Count(Direction.ToTarget, IscsiOpcode.SnackRequest));
        // Every header and data digest matched as it passed: the proxy framed the stream where the peers did.
        Assert.True(proxy.DigestsChecked > 20, $"{proxy.DigestsChecked} digests checked");
        Assert.Equal(0, proxy.DigestErrors);
    }

    [Fact]
    public async Task Corrupted_data_in_fails_the_read_with_a_digest_error_at_error_recovery_level_0()
    {
        var log = new CapturedLog();
        await using var target = StartTarget(log);
        await using var proxy = new PduFaultProxy(target.Port);
        var options = DigestOptions(target, proxy.Port);
        options.ErrorRecoveryLevel = 0;
        options.LoggerFactory = log.Factory;
        await using var session = await IscsiSession.ConnectAsync(options, Tcp);
        Assert.Equal(0, session.Negotiated.ErrorRecoveryLevel);
        var lun = await session.OpenLunAsync(0);
        var data = RandomBytes(1024 * 1024);
        await lun.WriteAsync(0, data);

        var rule = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 2, FaultAction.CorruptData); // counted from now
        proxy.Add(rule);
        var back = new byte[data.Length];
        var error = await Assert.ThrowsAnyAsync<IscsiException>(async () => await lun.ReadAsync(0, back).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, proxy.Fired(rule));
        Assert.Contains(proxy.Log, l => l.StartsWith("corrupted data byte", StringComparison.Ordinal) && l.Contains("DataIn #") && l.Contains("DataSN 1"));
        // Today at ERL 0 the initiator keeps the PDU's place, marks the task and fails it when its status arrives.
        Assert.Contains("failed its data digest", error.Message);
        Assert.Contains("Data digest error", error.Message);
        Assert.Equal(0, proxy.DigestErrors); // the corruption happened after the proxy's own check
        Assert.Equal(0, proxy.Count(Direction.ToTarget, IscsiOpcode.SnackRequest)); // no recovery of the lost data at ERL 0

        // A data digest error is recoverable: the connection stays up and the next read is good.
        try { await lun.ReadAsync(0, back); }
        catch (Exception e) { throw new Xunit.Sdk.XunitException($"{e.Message}\n{log}\n{Show(proxy)}"); }
        Assert.Equal(data, back);
        Assert.Equal(IscsiSessionState.LoggedIn, session.State);
        Assert.Equal(1, proxy.AcceptedConnections);
    }

    [Fact]
    public async Task Dropped_nop_out_is_counted_and_logged_and_the_ping_times_out()
    {
        await using var target = StartTarget();
        await using var proxy = new PduFaultProxy(target.Port);
        await using var session = await IscsiSession.ConnectAsync(DigestOptions(target, proxy.Port), Tcp);
        var rule = new FaultRule(Direction.ToTarget, IscsiOpcode.NopOut, 1, FaultAction.Drop);
        proxy.Add(rule);

        var error = await Assert.ThrowsAsync<IscsiConnectionException>(() => session.PingAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Contains("did not answer the NOP-Out ping", error.Message);
        await session.PingAsync(TimeSpan.FromSeconds(5)); // the next one passes: an immediate NOP-Out takes no CmdSN

        Assert.Equal(1, proxy.Fired(rule));
        Assert.Equal(2, proxy.Count(Direction.ToTarget, IscsiOpcode.NopOut));
        Assert.Equal(1, proxy.Count(Direction.ToInitiator, IscsiOpcode.NopIn));
        Assert.Single(proxy.Log, l => l.StartsWith("dropped NopOut #1 (to target)", StringComparison.Ordinal));
        Assert.Equal(IscsiSessionState.LoggedIn, session.State);
    }

    // ---- Scripted peers on raw sockets: the actions' exact effect on the byte stream ----

    [Fact]
    public async Task Hold_delay_corrupt_drop_and_kill_act_on_exactly_the_chosen_pdus()
    {
        using var targetListener = new TcpListener(IPAddress.Loopback, 0);
        targetListener.Start();
        await using var proxy = new PduFaultProxy(((IPEndPoint)targetListener.LocalEndpoint).Port);
        var hold = new FaultRule(Direction.ToTarget, IscsiOpcode.NopOut, 1, FaultAction.HoldForReorder);
        var delay = new FaultRule(Direction.ToTarget, IscsiOpcode.NopOut, 3, FaultAction.Delay, TimeSpan.FromMilliseconds(300));
        var corruptHeader = new FaultRule(Direction.ToTarget, IscsiOpcode.NopOut, 4, FaultAction.CorruptHeader);
        var corruptData = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 1, FaultAction.CorruptData);
        var drop = new FaultRule(Direction.ToInitiator, IscsiOpcode.NopIn, 1, FaultAction.Drop);
        var kill = new FaultRule(Direction.ToInitiator, IscsiOpcode.NopIn, 2, FaultAction.KillConnection);
        var finalDataIn = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 1, FaultAction.Drop) { Match = bhs => (bhs.Span[1] & 0x01) != 0 };
        foreach (var r in new[] { hold, delay, corruptHeader, corruptData, drop, kill, finalDataIn }) proxy.Add(r);

        using var initiator = new TcpClient { NoDelay = true };
        await initiator.ConnectAsync(IPAddress.Loopback, proxy.Port);
        using var targetSide = await targetListener.AcceptTcpClientAsync();
        var toTarget = initiator.GetStream();
        var atTarget = targetSide.GetStream();
        await LoginAsync(toTarget, atTarget);

        // Initiator -> target: NOP-Outs 1..5 with data of different lengths (padding, digests).
        int[] lengths = { 0, 5, 1000, 3, 8 };
        var clock = Stopwatch.StartNew();
        for (uint itt = 1; itt <= 5; itt++)
            await toTarget.WriteAsync(Build(IscsiOpcode.NopOut, 0x80, itt, Payload(lengths[itt - 1], (byte)itt)));
        var received = new List<(uint Itt, bool HeaderOk, bool DataOk, TimeSpan At, byte[] Data)>();
        for (int i = 0; i < 5; i++)
        {
            var pdu = await ReadAsync(atTarget);
            received.Add((pdu.Itt, pdu.HeaderOk, pdu.DataOk, clock.Elapsed, pdu.Data));
        }
        // #1 held until #2 went; #3 waited 300 ms with #4 and #5 behind it; #4's ITT was flipped, breaking its header digest.
        Assert.Equal(new uint[] { 2, 1, 3, 4 ^ 0xff, 5 }, received.Select(r => r.Itt).ToArray());
        Assert.True(received[2].At >= TimeSpan.FromMilliseconds(280), $"#3 arrived after {received[2].At}");
        Assert.Equal(new[] { true, true, true, false, true }, received.Select(r => r.HeaderOk).ToArray());
        Assert.All(received, r => Assert.True(r.DataOk));
        foreach (var r in received)
        {
            uint sent = r.Itt > 5 ? r.Itt ^ 0xff : r.Itt;
            Assert.Equal(Payload(lengths[sent - 1], (byte)sent), r.Data);
        }

        // Target -> initiator: a NOP-In (dropped), a Data-In (data corrupted), a final Data-In (dropped by the predicate),
        // a Data-In and a NOP-In (the connection is reset instead).
        await atTarget.WriteAsync(Build(IscsiOpcode.NopIn, 0x80, 10, Payload(0, 0)));
        await atTarget.WriteAsync(Build(IscsiOpcode.DataIn, 0x00, 11, Payload(100, 11)));
        await atTarget.WriteAsync(Build(IscsiOpcode.DataIn, 0x81, 12, Payload(6, 12)));
        await atTarget.WriteAsync(Build(IscsiOpcode.DataIn, 0x80, 13, Payload(7, 13)));
        await atTarget.WriteAsync(Build(IscsiOpcode.NopIn, 0x80, 14, Payload(0, 0)));
        var corrupted = await ReadAsync(toTarget);
        Assert.Equal(11u, corrupted.Itt);
        Assert.True(corrupted.HeaderOk);
        Assert.False(corrupted.DataOk);
        Assert.Equal(1, Payload(100, 11).Zip(corrupted.Data).Count(p => p.First != p.Second));
        var next = await ReadAsync(toTarget);
        Assert.Equal(13u, next.Itt);
        Assert.True(next.HeaderOk && next.DataOk);
        // Then the reset: the initiator's side ends without the last NOP-In.
        await Assert.ThrowsAnyAsync<Exception>(async () => await ReadAsync(toTarget).WaitAsync(TimeSpan.FromSeconds(5)));

        foreach (var r in new[] { hold, delay, corruptHeader, corruptData, drop, kill, finalDataIn }) Assert.Equal(1, proxy.Fired(r));
        Assert.Equal(5, proxy.Count(Direction.ToTarget, IscsiOpcode.NopOut));
        Assert.Equal(2, proxy.Count(Direction.ToInitiator, IscsiOpcode.NopIn));
        Assert.Equal(3, proxy.Count(Direction.ToInitiator, IscsiOpcode.DataIn));
        Assert.Equal(0, proxy.DigestErrors);
        Assert.Contains(proxy.Log, l => l.StartsWith("dropped DataIn #2 (to initiator) ITT 0x0000000c DataSN 0 offset 0 F S", StringComparison.Ordinal));
        Assert.Contains(proxy.Log, l => l.StartsWith("killing connection 1 at NopIn #2", StringComparison.Ordinal));
        for (int i = 0; i < 100 && !proxy.Log.Contains("connection 1: reset"); i++) await Task.Delay(20);
        Assert.Contains("connection 1: reset", proxy.Log);
    }

    [Fact]
    public async Task Login_text_split_over_continued_responses_still_turns_digests_on()
    {
        using var targetListener = new TcpListener(IPAddress.Loopback, 0);
        targetListener.Start();
        await using var proxy = new PduFaultProxy(((IPEndPoint)targetListener.LocalEndpoint).Port);
        using var initiator = new TcpClient { NoDelay = true };
        await initiator.ConnectAsync(IPAddress.Loopback, proxy.Port);
        using var targetSide = await targetListener.AcceptTcpClientAsync();
        var toTarget = initiator.GetStream();
        var atTarget = targetSide.GetStream();
        await LoginAsync(toTarget, atTarget, "HeaderDigest=CRC", "32C\0DataDigest=None\0");
        Assert.Contains(proxy.Log, l => l.EndsWith("full feature phase, HeaderDigest=CRC32C DataDigest=None"));
        await atTarget.WriteAsync(Build(IscsiOpcode.NopIn, 0x80, 1, Payload(9, 1), dataDigest: false));
        var pdu = await ReadAsync(toTarget, dataDigest: false);
        Assert.True(pdu.HeaderOk);
        Assert.Equal(1, proxy.Count(Direction.ToInitiator, IscsiOpcode.NopIn));
        Assert.Equal(1, proxy.DigestsChecked);
        Assert.Equal(0, proxy.DigestErrors);
    }

    /// <summary>A Login Request, then the target's Login Response(s) with <paramref name="responseText"/> (all but the last with C set).</summary>
    private static async Task LoginAsync(NetworkStream toTarget, NetworkStream atTarget, params string[] responseText)
    {
        if (responseText.Length == 0) responseText = ["HeaderDigest=CRC32C\0DataDigest=CRC32C\0"];
        await toTarget.WriteAsync(Build(IscsiOpcode.LoginRequest, 0x87, 1, Encoding.ASCII.GetBytes("InitiatorName=iqn.x\0HeaderDigest=CRC32C\0"), false, false));
        await ReadAsync(atTarget, false, false);
        for (int i = 0; i < responseText.Length; i++)
        {
            bool last = i == responseText.Length - 1;
            await atTarget.WriteAsync(Build(IscsiOpcode.LoginResponse, last ? (byte)0x87 : (byte)0x40, 1, Encoding.ASCII.GetBytes(responseText[i]), false, false));
            await ReadAsync(toTarget, false, false);
        }
    }

    private static byte[] Payload(int length, byte seed) => Enumerable.Range(0, length).Select(i => (byte)(seed * 31 + i)).ToArray();

    private static byte[] Build(IscsiOpcode opcode, byte flags, uint itt, byte[] data, bool headerDigest = true, bool dataDigest = true)
    {
        int header = Pdu.BhsLength + (headerDigest ? 4 : 0);
        int padded = PduWireFormat.Pad(data.Length);
        var pdu = new byte[header + (data.Length == 0 ? 0 : padded + (dataDigest ? 4 : 0))];
        pdu[0] = (byte)opcode;
        pdu[1] = flags;
        pdu[5] = (byte)(data.Length >> 16);
        pdu[6] = (byte)(data.Length >> 8);
        pdu[7] = (byte)data.Length;
        BinaryPrimitives.WriteUInt32BigEndian(pdu.AsSpan(16), itt);
        if (headerDigest) Crc32C.Write(pdu.AsSpan(Pdu.BhsLength), Crc32C.Compute(pdu.AsSpan(0, Pdu.BhsLength)));
        data.CopyTo(pdu, header);
        if (data.Length > 0 && dataDigest) Crc32C.Write(pdu.AsSpan(header + padded), Crc32C.Compute(pdu.AsSpan(header, padded)));
        return pdu;
    }

    private static async Task<(uint Itt, bool HeaderOk, bool DataOk, byte[] Data)> ReadAsync(NetworkStream stream, bool headerDigest = true, bool dataDigest = true)
    {
        var header = new byte[Pdu.BhsLength + (headerDigest ? 4 : 0)];
        await stream.ReadExactlyAsync(header);
        bool headerOk = !headerDigest || Crc32C.Compute(header.AsSpan(0, Pdu.BhsLength)) == Crc32C.Read(header.AsSpan(Pdu.BhsLength));
        int length = header[5] << 16 | header[6] << 8 | header[7];
        var rest = new byte[length == 0 ? 0 : PduWireFormat.Pad(length) + (dataDigest ? 4 : 0)];
        await stream.ReadExactlyAsync(rest);
        bool dataOk = length == 0 || !dataDigest || Crc32C.Compute(rest.AsSpan(0, PduWireFormat.Pad(length))) == Crc32C.Read(rest.AsSpan(PduWireFormat.Pad(length)));
        return (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16)), headerOk, dataOk, rest.AsSpan(0, length).ToArray());
    }

    // ---- The same proxy as a Python process ----

    /// <summary>tests/tools/iscsi-fault-proxy.py started against <paramref name="targetPort"/>, its port read from its first stdout line.</summary>
    private sealed class PythonProxy : IDisposable
    {
        private readonly Process _process;
        public ConcurrentQueue<string> Stderr { get; } = new();
        public int Port { get; private set; }

        private PythonProxy(Process process) => _process = process;

        public static async Task<PythonProxy> StartAsync(int targetPort, params string[] rules)
        {
            string script = Path.Combine(IserCli.RepositoryRoot ?? throw new InvalidOperationException(
                "The repository root (holding Iser.sln) was not found above the test output; tests/tools/iscsi-fault-proxy.py lives there."),
                "tests", "tools", "iscsi-fault-proxy.py");
            var start = new ProcessStartInfo(PythonFactAttribute.Python!)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                ArgumentList = { script, "--listen", "127.0.0.1:0", "--target", $"127.0.0.1:{targetPort}" },
            };
            foreach (string rule in rules)
            {
                start.ArgumentList.Add("--rule");
                start.ArgumentList.Add(rule);
            }
            var proxy = new PythonProxy(Process.Start(start) ?? throw new InvalidOperationException("python3 did not start"));
            try
            {
                proxy._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) proxy.Stderr.Enqueue(e.Data); };
                proxy._process.BeginErrorReadLine();
                string? ready = await proxy._process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.True(ready is not null && ready.StartsWith("listening 127.0.0.1:", StringComparison.Ordinal),
                    $"first stdout line: '{ready}'\n{proxy}");
                proxy.Port = int.Parse(ready["listening 127.0.0.1:".Length..]);
                return proxy;
            }
            catch
            {
                proxy.Dispose();
                throw;
            }
        }

        /// <summary>Waits (up to 2 s) for a stderr line containing <paramref name="text"/>.</summary>
        public async Task<string> WaitForLineAsync(string text)
        {
            for (int i = 0; i < 100; i++)
            {
                if (Stderr.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line) return line;
                await Task.Delay(20);
            }
            throw new Xunit.Sdk.XunitException($"the proxy never logged '{text}'\n{this}");
        }

        /// <summary>SIGTERM, then the exit code.</summary>
        public async Task<int> TerminateAsync()
        {
            Assert.Equal(0, Kill(_process.Id, 15));
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            return _process.ExitCode;
        }

        public override string ToString() => "proxy stderr:\n" + string.Join("\n", Stderr);

        public void Dispose()
        {
            try { if (!_process.HasExited) _process.Kill(); } catch { }
            _process.Dispose();
        }

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int Kill(int pid, int signal);
    }

    [PythonFact]
    public async Task Python_proxy_relays_a_digested_session_and_fires_a_corrupt_data_rule()
    {
        await using var target = StartTarget();
        // Data-In #1 answers READ CAPACITY (OpenLunAsync); the clean 256 KiB read brings #2..#5 (64 KiB each); #6 is the next read's first.
        using var proxy = await PythonProxy.StartAsync(target.Port, "corrupt-data:to-initiator:DataIn:6");
        var options = DigestOptions(target, proxy.Port);
        options.MaxRecvDataSegmentLength = 64 * 1024;
        await using (var session = await IscsiSession.ConnectAsync(options, Tcp))
        {
            var lun = await session.OpenLunAsync(0);
            var data = RandomBytes(256 * 1024);
            await lun.WriteAsync(16, data);
            var back = new byte[data.Length];
            await lun.ReadAsync(16, back);
            Assert.True(data.AsSpan().SequenceEqual(back), "256 KiB read back through the Python proxy equals what was written");

            var error = await Assert.ThrowsAnyAsync<IscsiException>(async () => await lun.ReadAsync(16, back).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.True(error.Message.Contains("failed its data digest"), $"{error.Message}\n{proxy}");
        }
        await proxy.WaitForLineAsync("fired");
        Assert.Contains("connection 1: full feature phase, HeaderDigest=CRC32C DataDigest=CRC32C", proxy.Stderr);
        Assert.Single(proxy.Stderr, l => l.StartsWith(
            "rule corrupt-data:to-initiator:DataIn:6 fired: corrupted data byte 32768 of 65536 in DataIn #6 to-initiator", StringComparison.Ordinal));
        Assert.Equal(0, await proxy.TerminateAsync()); // SIGTERM: a clean exit
    }

    [PythonFact]
    public async Task Python_proxy_drops_corrupts_and_kills_exactly_the_chosen_pdus()
    {
        using var targetListener = new TcpListener(IPAddress.Loopback, 0);
        targetListener.Start();
        using var proxy = await PythonProxy.StartAsync(((IPEndPoint)targetListener.LocalEndpoint).Port,
            "drop:to-target:NopOut:1", "corrupt-header:to-target:0x00:2", "corrupt-data:to-initiator:DataIn:1", "kill:to-initiator:NopIn:2");
        using var initiator = new TcpClient { NoDelay = true };
        await initiator.ConnectAsync(IPAddress.Loopback, proxy.Port);
        using var targetSide = await targetListener.AcceptTcpClientAsync();
        var toTarget = initiator.GetStream();
        var atTarget = targetSide.GetStream();
        await LoginAsync(toTarget, atTarget, "HeaderDigest=CRC", "32C\0DataDigest=CRC32C\0"); // the text split over a continued response

        for (uint itt = 1; itt <= 3; itt++) await toTarget.WriteAsync(Build(IscsiOpcode.NopOut, 0x80, itt, Payload((int)itt * 3, (byte)itt)));
        var second = await ReadAsync(atTarget);
        Assert.Equal(2u ^ 0xff, second.Itt);
        Assert.False(second.HeaderOk);
        Assert.True(second.DataOk);
        var third = await ReadAsync(atTarget);
        Assert.Equal(3u, third.Itt);
        Assert.True(third.HeaderOk && third.DataOk);
        Assert.Equal(Payload(9, 3), third.Data);

        await atTarget.WriteAsync(Build(IscsiOpcode.DataIn, 0x81, 10, Payload(101, 10)));
        await atTarget.WriteAsync(Build(IscsiOpcode.NopIn, 0x80, 11, Payload(0, 0)));
        await atTarget.WriteAsync(Build(IscsiOpcode.NopIn, 0x80, 12, Payload(0, 0)));
        var corrupted = await ReadAsync(toTarget);
        Assert.Equal(10u, corrupted.Itt);
        Assert.True(corrupted.HeaderOk);
        Assert.False(corrupted.DataOk);
        Assert.Equal(1, Payload(101, 10).Zip(corrupted.Data).Count(p => p.First != p.Second));
        Assert.Equal(11u, (await ReadAsync(toTarget)).Itt);
        await Assert.ThrowsAnyAsync<Exception>(async () => await ReadAsync(toTarget).WaitAsync(TimeSpan.FromSeconds(5)));

        await proxy.WaitForLineAsync("connection 1: reset");
        Assert.Contains("connection 1: full feature phase, HeaderDigest=CRC32C DataDigest=CRC32C", proxy.Stderr);
        Assert.Single(proxy.Stderr, l => l.StartsWith("rule drop:to-target:NopOut:1 fired: dropped NopOut #1 to-target ITT 0x00000001", StringComparison.Ordinal));
        Assert.Single(proxy.Stderr, l => l.StartsWith("rule corrupt-header:to-target:0x00:2 fired: corrupted header byte 19 (ITT) of NopOut #2", StringComparison.Ordinal));
        Assert.Single(proxy.Stderr, l => l.StartsWith("rule corrupt-data:to-initiator:DataIn:1 fired: corrupted data byte 50 of 101 in DataIn #1 to-initiator ITT 0x0000000a DataSN 0 offset 0", StringComparison.Ordinal));
        Assert.Single(proxy.Stderr, l => l.StartsWith("rule kill:to-initiator:NopIn:2 fired: killed connection 1 at NopIn #2", StringComparison.Ordinal));
        Assert.Equal(0, await proxy.TerminateAsync());
    }
}

/// <summary>A fact that needs python3 on PATH (xunit 2 has no runtime skip: the condition is evaluated at discovery).</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public static readonly string? Python = PeerTools.Find("python3");

    public PythonFactAttribute()
    {
        if (Python is null) Skip = "needs python3 on PATH to run tests/tools/iscsi-fault-proxy.py";
    }
}
