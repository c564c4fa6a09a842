using System.Buffers.Binary;
using System.Collections.Concurrent;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Pdus;
using Iser.Tests.Initiator;
using Iser.Tests.Recovery;
using Iser.Tests.Verbs;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Our initiator at ErrorRecoveryLevel 2 against the Linux kernel's own target (LIO, iscsi_target_mod), which implements
/// ERL 2, in the lab guest: iSCSI over TCP (no iSER), the TPG configured by native/lab/lio-iser-target.py with
/// ErrorRecoveryLevel=2, DefaultTime2Wait=1, DefaultTime2Retain=20. The connection runs through an in-process
/// <see cref="PduFaultProxy"/> (loopback, so LIO also gets a portal on 127.0.0.1) that kills it in the middle of a
/// mixed load. Reconnect (session recovery) is off, so only connection recovery can save the commands: after
/// DefaultTime2Wait a new connection logs into the same session (same ISID, the session's TSIH, CID 0) and every
/// outstanding command is moved to it by TASK REASSIGN (RFC 7143 §6.2.2, §7.1.4, §11.5.1), or retried when LIO says
/// it never received it. No command may fail, and every block must read back as written.
/// <para>
/// What this test found (Linux 6.1, the lab's kernel): (1) our initiator declares SessionType=Normal in the first
/// request of the login into the existing session, though SessionType is leading-only (RFC 7143 §13.21); LIO builds a
/// non-leading connection's key list without session-wide keys, answers SessionType=NotUnderstood, and our login
/// negotiator rejects that answer ("The target sent SessionType, a key only an initiator may send"), so no connection
/// can join and every outstanding command fails after DefaultTime2Retain. (2) With that fixed (tried on a scratch copy),
/// LIO's answers to TASK REASSIGN are wrong on the wire: a task it does reassign is answered 255 (Function rejected),
/// its data and status following right behind, and a task it never received is answered 0 (Function complete), so the
/// initiator waits for it until ERL 1's retry. iscsit_tmr_task_reassign returns iSCSI response codes
/// (ISCSI_TMF_RSP_COMPLETE = 0, ISCSI_TMF_RSP_NO_TASK = 1) into se_tmr->response, and iscsit_convert_tcm_tmr_rsp reads
/// them as target-core codes (TMR_FUNCTION_FAILED = 0 becomes 255, TMR_FUNCTION_COMPLETE = 1 becomes 0).
/// (1) is fixed; for (2) our initiator retries a command whose TASK REASSIGN is answered outside the RFC (safe at ERL 2),
/// and the test reports LIO's answers (<see cref="LioAnswersTaskReassignWrongly"/>) instead of failing on them.
/// </para>
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // one lab test at a time: they share LIO's configfs and the guest's two vCPUs
public sealed class LioErrorRecoveryLabTests(ITestOutputHelper output)
{
    private const string TargetIqn = "iqn.2026-11.org.example:lio-erl2";
    private const string InitiatorIqn = "iqn.2026-11.org.example:ours-lio-erl2";
    private const string Backstore = "lio_erl2_ram";
    private const int Port = 3262; // 3260 is tgtd's (IserAgainstTgtdLabTests), 3261 LIO's iSER portal (IserAgainstLioLabTests)
    private const int SizeMiB = 64;

    /// <summary>LIO's answers to TASK REASSIGN, outside RFC 7143 §11.6.1, as this test reports them.</summary>
    internal const string LioAnswersTaskReassignWrongly =
        "Linux LIO (6.1) answers TASK REASSIGN (TMF function 8) outside RFC 7143 §11.6.1: a task it reassigns gets 255 " +
        "(Function rejected) with its data and status right behind, and a task it never received gets 0 (Function complete) " +
        "instead of 1 (Task does not exist), so that command waits until ERL 1 retries it. iscsit_tmr_task_reassign returns " +
        "iSCSI codes (ISCSI_TMF_RSP_COMPLETE = 0, ISCSI_TMF_RSP_NO_TASK = 1) into se_tmr->response, which " +
        "iscsit_convert_tcm_tmr_rsp reads as target-core codes (TMR_FUNCTION_FAILED = 0 -> 255, TMR_FUNCTION_COMPLETE = 1 -> 0).";

    [LioErrorRecoveryFact]
    public async Task OurInitiatorAtErl2SurvivesAConnectionKilledUnderLoadAgainstLinuxLioOverTcp()
    {
        var host = new LabCommands(output);
        string script = LabCommands.LioTargetScript();

        string address = LabEnvironment.Address.ToString();
        var log = new CapturedLog(LogLevel.Trace); // Trace: category Iser.Initiator.Pdu shows every PDU sent and received
        var wire = new Wire();
        PduFaultProxy? proxy = null;
        bool passed = false;
        try
        {
            // The proxy relays to 127.0.0.1, so LIO listens there too; the lab address keeps the portal the other LIO test uses.
            var setup = await host.RunPythonAsync(script,
                $"setup --iqn {TargetIqn} --address {address} --address 127.0.0.1 --port {Port} --size-mb {SizeMiB} --name {Backstore} " +
                "--tcp --erl 2 --time2wait 1 --time2retain 20");
            Assert.True(setup.ExitCode == 0, $"Setting up LIO failed:\n{setup}");
            string tpg = $"/sys/kernel/config/target/iscsi/{TargetIqn}/tpgt_1";
            Assert.Equal("2", (await File.ReadAllTextAsync($"{tpg}/param/ErrorRecoveryLevel")).Trim());
            Assert.Equal("2", (await File.ReadAllTextAsync($"{tpg}/attrib/default_erl")).Trim()); // what LIO answers a leading login with

            proxy = new PduFaultProxy(Port);
            Sniff(proxy, wire);
            var options = new IscsiSessionOptions
            {
                LoggerFactory = log.Factory,
                Host = "127.0.0.1",
                Port = proxy.Port,
                TargetName = TargetIqn,
                InitiatorName = InitiatorIqn,
                ErrorRecoveryLevel = 2,
                DefaultTime2Wait = 1,
                DefaultTime2Retain = 20,
                NopInterval = TimeSpan.Zero,
                LoginTimeout = TimeSpan.FromSeconds(30),
                ManagementTimeout = TimeSpan.FromSeconds(30),
                // ERL 1's retry of a slow command would blur what ERL 2 did; under TCG a command may take seconds.
                RecoveryTimeout = TimeSpan.FromSeconds(60),
                CommandTimeout = TimeSpan.FromSeconds(120),
                Reconnect = new ReconnectOptions { Enabled = false }, // only connection recovery (ERL 2) may save the commands
            };
            await using var session = await IscsiSession.ConnectAsync(options, new TcpInitiatorTransport());
            Assert.Equal("tcp", session.TransportName);
            Assert.Equal(2, session.Negotiated.ErrorRecoveryLevel);
            ushort tsih = session.Tsih;
            Assert.NotEqual(0, tsih);
            output.WriteLine($"negotiated with LIO: ErrorRecoveryLevel={session.Negotiated.ErrorRecoveryLevel} " +
                $"DefaultTime2Wait={session.Negotiated.DefaultTime2Wait} DefaultTime2Retain={session.Negotiated.DefaultTime2Retain} TSIH={tsih}");

            var lun = await session.OpenLunAsync(0);
            Assert.Equal(512, lun.BlockSize);
            Assert.Equal((long)SizeMiB * 1024 * 1024 / 512, lun.BlockCount);

            // 16 writers and 16 readers of 64 KiB each, over their own LBAs; the blocks the readers read are written first.
            const int Workers = 16, Blocks = 128;
            var written = new byte[Workers][];
            for (int i = 0; i < Workers; i++)
            {
                written[i] = LabEnvironment.Pattern(Blocks * 512, 1000 + i);
                await lun.WriteAsync(8192 + i * Blocks, written[i]);
            }

            // The connection dies in the middle of the read data, with writes and reads outstanding.
            var kill = new FaultRule(Direction.ToInitiator, IscsiOpcode.DataIn, 6, FaultAction.KillConnection);
            proxy.Add(kill);
            var fresh = new byte[Workers][];
            var read = new byte[Workers][];
            var work = new List<Task>();
            for (int i = 0; i < Workers; i++)
            {
                fresh[i] = LabEnvironment.Pattern(Blocks * 512, 2000 + i);
                read[i] = new byte[Blocks * 512];
                work.Add(lun.WriteAsync(i * Blocks, fresh[i]).AsTask());
                work.Add(lun.ReadAsync(8192 + i * Blocks, read[i]).AsTask());
            }
            var all = Task.WhenAll(work);
            bool done = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(90))) == all;
            Report(session, proxy, wire, log);
            Assert.True(done, $"the commands did not complete within 90 s after the connection was killed " +
                $"({work.Count(t => !t.IsCompleted)} of {work.Count} still waiting)");
            // RFC 7143 §11.6.1: a TASK REASSIGN is answered 0 (Function complete) or 1 (Task does not exist). LIO 6.1 answers
            // otherwise (see LioAnswersTaskReassignWrongly); our initiator retries such a command, which a target at ERL 2
            // answers without running it twice. Reported, not asserted: it is LIO's conformance, not ours.
            var odd = wire.ReassignAnswers.Where(a => a.Response is not (0 or 1)).ToList();
            output.WriteLine($"LIO answered {odd.Count} of {wire.ReassignAnswers.Count} TASK REASSIGN(s) outside RFC 7143 §11.6.1: " +
                string.Join("; ", odd.Select(a => $"RTT 0x{a.Rtt:x8} -> response {a.Response} ({(TaskManagementResponse)a.Response})")));
            var failed = work.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!.Message).ToList();
            Assert.True(failed.Count == 0, $"{failed.Count} command(s) failed:\n{string.Join("\n", failed)}");

            Assert.Equal(1, proxy.Fired(kill));
            Assert.Equal(1, session.ConnectionRecoveries);
            Assert.Equal(0, session.ReconnectCount);
            Assert.Equal(tsih, session.Tsih);
            // LIO may refuse the first login into the session with 0x0206 (too many connections) while it still tears the
            // old connection down (it reinstates it, then counts it against MaxConnections=1); the initiator logs in again.
            Assert.True(proxy.AcceptedConnections >= 2, $"{proxy.AcceptedConnections} connection(s) through the proxy");
            Assert.True(proxy.Count(Direction.ToTarget, IscsiOpcode.TaskManagementRequest) > 0, "no TASK REASSIGN was sent after the connection failed");
            for (int i = 0; i < Workers; i++)
            {
                Assert.True(written[i].AsSpan().SequenceEqual(read[i]), $"read {i} returned other bytes than were written");
                var back = new byte[Blocks * 512];
                await lun.ReadAsync(i * Blocks, back);
                Assert.True(fresh[i].AsSpan().SequenceEqual(back), $"write {i} did not land");
            }
            await session.LogoutAsync();
            passed = true;
        }
        finally
        {
            if (proxy is not null) await proxy.DisposeAsync();
            var teardown = await host.RunPythonAsync(script, $"teardown --iqn {TargetIqn} --name {Backstore}");
            if (!passed)
            {
                output.WriteLine("initiator log:");
                foreach (string line in log.Lines) output.WriteLine(line);
                output.WriteLine("kernel log (dmesg, last 200 lines):\n" + await LabCommands.DmesgTailAsync(200));
            }
            Assert.True(teardown.ExitCode == 0, $"Tearing LIO down failed:\n{teardown}");
            Assert.False(Directory.Exists($"/sys/kernel/config/target/iscsi/{TargetIqn}"), "LIO's target is still configured after the teardown.");
        }
    }

    /// <summary>What <see cref="Sniff"/> saw: a line per PDU of interest, and each TASK REASSIGN with LIO's answer.</summary>
    private sealed class Wire
    {
        private readonly ConcurrentDictionary<uint, uint> _reassignRtt = new(); // TMF ITT -> referenced task
        private readonly ConcurrentQueue<(uint Rtt, byte Response)> _answers = new();
        public ConcurrentQueue<string> Lines { get; } = new();
        public IReadOnlyCollection<(uint Rtt, byte Response)> ReassignAnswers => _answers.ToArray();

        public void Request(uint itt, int function, uint rtt)
        {
            if (function == 8) _reassignRtt[itt] = rtt;
        }

        public void Response(uint itt, byte response)
        {
            if (_reassignRtt.TryGetValue(itt, out uint rtt)) _answers.Enqueue((rtt, response));
        }
    }

    /// <summary>
    /// Records, without touching them, the PDUs that tell what LIO did with the recovery: every Task Management request
    /// and response and every SCSI Response that is not GOOD (a rule whose match never accepts is asked about each such PDU).
    /// </summary>
    private static void Sniff(PduFaultProxy proxy, Wire wire)
    {
        static uint U32(ReadOnlySpan<byte> bhs, int at) => BinaryPrimitives.ReadUInt32BigEndian(bhs[at..]);
        proxy.Add(new FaultRule(Direction.ToTarget, IscsiOpcode.TaskManagementRequest, int.MaxValue, FaultAction.Drop)
        {
            Match = bhs =>
            {
                var b = bhs.Span;
                wire.Request(U32(b, 16), b[1] & 0x7f, U32(b, 20));
                wire.Lines.Enqueue($"-> TMF request function {b[1] & 0x7f} ITT 0x{U32(b, 16):x8} RTT 0x{U32(b, 20):x8} CmdSN {U32(b, 24)} " +
                    $"ExpStatSN {U32(b, 28)} RefCmdSN {U32(b, 32)} ExpDataSN {U32(b, 40)}");
                return false;
            },
        });
        proxy.Add(new FaultRule(Direction.ToInitiator, IscsiOpcode.TaskManagementResponse, int.MaxValue, FaultAction.Drop)
        {
            Match = bhs =>
            {
                var b = bhs.Span;
                wire.Response(U32(b, 16), b[2]);
                wire.Lines.Enqueue($"<- TMF response {b[2]} ({(TaskManagementResponse)b[2]}) ITT 0x{U32(b, 16):x8} StatSN {U32(b, 24)} " +
                    $"ExpCmdSN {U32(b, 28)} MaxCmdSN {U32(b, 32)}");
                return false;
            },
        });
        proxy.Add(new FaultRule(Direction.ToInitiator, IscsiOpcode.ScsiResponse, int.MaxValue, FaultAction.Drop)
        {
            Match = bhs =>
            {
                var b = bhs.Span;
                if (b[2] != 0 || b[3] != 0) // a failed command or a status other than GOOD
                    wire.Lines.Enqueue($"<- SCSI Response ITT 0x{U32(b, 16):x8} response {b[2]} status 0x{b[3]:x2} StatSN {U32(b, 24)}");
                return false;
            },
        });
    }

    private void Report(IscsiSession session, PduFaultProxy proxy, Wire wire, CapturedLog log)
    {
        output.WriteLine($"ConnectionRecoveries={session.ConnectionRecoveries} ReconnectCount={session.ReconnectCount} " +
            $"CommandRetries={session.CommandRetries} TSIH={session.Tsih} connections through the proxy={proxy.AcceptedConnections}");
        output.WriteLine($"TMF requests {proxy.Count(Direction.ToTarget, IscsiOpcode.TaskManagementRequest)}, " +
            $"responses {proxy.Count(Direction.ToInitiator, IscsiOpcode.TaskManagementResponse)}, " +
            $"SCSI commands {proxy.Count(Direction.ToTarget, IscsiOpcode.ScsiCommand)}, SCSI responses {proxy.Count(Direction.ToInitiator, IscsiOpcode.ScsiResponse)}, " +
            $"Data-In {proxy.Count(Direction.ToInitiator, IscsiOpcode.DataIn)}, R2T {proxy.Count(Direction.ToInitiator, IscsiOpcode.ReadyToTransfer)}, " +
            $"Reject {proxy.Count(Direction.ToInitiator, IscsiOpcode.Reject)}");
        output.WriteLine("proxy:");
        foreach (string line in proxy.Log) output.WriteLine("  " + line);
        output.WriteLine("on the wire (TMF, failed SCSI responses):");
        foreach (string line in wire.Lines) output.WriteLine("  " + line);
        output.WriteLine("recovery (initiator log, Information and up, and the reassignments):");
        foreach (string line in log.Lines.Where(l => !l.Contains(" Trace ") && (!l.Contains(" Debug ") || l.Contains("reassign") || l.Contains("TASK REASSIGN"))))
            output.WriteLine("  " + line);
    }
}

/// <summary>
/// Runs the LIO level-2 test only on request (LAB_LIO_ERL2=1, in the lab): LIO 6.1's TASK REASSIGN is broken beyond
/// its wrong answer codes — in a CI run it left three TASK REASSIGNs unanswered and ignored the retries, so commands
/// waited for ever and its own configfs teardown then hung for over 120 s (the run of 2026-12-03 09:17). It passed
/// on the run before (every command completed once, same TSIH); as a gate for our code it would fail on LIO's bug.
/// </summary>
public sealed class LioErrorRecoveryFactAttribute : FactAttribute
{
    public LioErrorRecoveryFactAttribute()
    {
        if (!Iser.Transport.Iser.Verbs.RdmaRuntime.IsSupported)
            Skip = $"needs an RDMA device (run inside the soft-RoCE lab): {Iser.Transport.Iser.Verbs.RdmaRuntime.NotSupportedReason}";
        else if (Environment.GetEnvironmentVariable("LAB_LIO_ERL2") != "1")
            Skip = "Linux LIO 6.1's TASK REASSIGN is broken (wrong answer codes; some requests never answered, after which its " +
                   "teardown hangs): run on request with LAB_LIO_ERL2=1. " + LioErrorRecoveryLabTests.LioAnswersTaskReassignWrongly;
    }
}
