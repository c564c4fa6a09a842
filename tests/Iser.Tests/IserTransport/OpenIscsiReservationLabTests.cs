using Iser.Tests.Verbs;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// SPC-4 persistent reservations as a cluster sees them: two Linux initiators (open-iscsi, two initiator names, one
/// over iSER and one over TCP) on one LUN of our target, driven by sg3-utils' sg_persist through the kernel's disks.
/// Both register, A reserves Write Exclusive, B sees A's reservation and both keys, B's write is refused (the kernel
/// reports the RESERVATION CONFLICT as an I/O error) and does not reach the LUN while its read passes, A's write
/// passes; once A releases, B's write passes and A reads it back.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class OpenIscsiReservationLabTests(ITestOutputHelper output)
{
    private const string Iqn = "iqn.2026-12.org.iser.test:open-iscsi-pr";

    [LabFact(Needs = ["iscsiadm", "iscsid", "sg_persist"])]
    public async Task TwoLinuxInitiatorsRegisterReserveAndConflictThroughSgPersist()
    {
        var host = new LabCommands(output);
        await using var lab = InProcessIserTarget.Start(16L << 20, LogLevel.Debug, iqn: Iqn, alsoTcp: true);
        var iser = lab.Listener.LocalEndPoint;
        var tcp = lab.TcpListener!.LocalEndPoint;
        string[] a = ["--portal", $"{iser.Address}:{iser.Port}", "--iqn", Iqn, "--transport", "iser", "--initiator-name", "iqn.2026-12.org.example:node-a"];
        string[] b = ["--portal", $"{tcp.Address}:{tcp.Port}", "--iqn", Iqn, "--transport", "tcp", "--initiator-name", "iqn.2026-12.org.example:node-b"];
        // B's block: random bytes, so a refused write that landed anyway would show on the LUN (which starts as zeros).
        string block = Path.Combine(Path.GetTempPath(), $"pr-block-{Environment.ProcessId}.bin");
        string back = block + ".back";
        var bytes = new byte[4096];
        Random.Shared.NextBytes(bytes);
        await File.WriteAllBytesAsync(block, bytes);
        bool passed = false;
        try
        {
            string diskA = await host.LoginAsync(a, "node A's login over iSER");
            string diskB = await host.LoginAsync(b, "node B's login over TCP");
            Assert.Equal(2, lab.Target.SessionCount);

            await host.MustAsync("sg_persist", ["--out", "--register", "--param-sark=0xa1", diskA], "A's REGISTER");
            await host.MustAsync("sg_persist", ["--out", "--register", "--param-sark=0xb2", diskB], "B's REGISTER");
            var keys = await host.MustAsync("sg_persist", ["--in", "--read-keys", diskB], "B's READ KEYS");
            Assert.Contains("0xa1", keys.Stdout);
            Assert.Contains("0xb2", keys.Stdout);

            await host.MustAsync("sg_persist", ["--out", "--reserve", "--param-rk=0xa1", "--prout-type=1", diskA], "A's RESERVE (Write Exclusive)");
            var held = await host.MustAsync("sg_persist", ["--in", "--read-reservation", diskB], "B's READ RESERVATION");
            Assert.Contains("0xa1", held.Stdout);
            Assert.Contains("Write Exclusive", held.Stdout);

            var writeB = await host.RunAsync("dd", [$"if={block}", $"of={diskB}", "bs=4096", "count=1", "oflag=direct", "status=none"]);
            Assert.True(writeB.ExitCode != 0, $"B wrote to a LUN that A holds Write Exclusive:\n{writeB}");
            await host.MustAsync("dd", [$"if={diskB}", $"of={back}", "bs=4096", "count=1", "iflag=direct", "status=none"], "B's read under A's Write Exclusive");
            Assert.True((await File.ReadAllBytesAsync(back)).All(x => x == 0), "B's refused write reached the LUN");
            await host.MustAsync("dd", ["if=/dev/zero", $"of={diskA}", "bs=4096", "count=1", "oflag=direct", "status=none"], "A's write under its own reservation");

            await host.MustAsync("sg_persist", ["--out", "--release", "--param-rk=0xa1", "--prout-type=1", diskA], "A's RELEASE");
            await host.MustAsync("dd", [$"if={block}", $"of={diskB}", "bs=4096", "count=1", "oflag=direct", "status=none"], "B's write after A released");
            await host.MustAsync("dd", [$"if={diskA}", $"of={back}", "bs=4096", "count=1", "iflag=direct", "status=none"], "A's read of B's write");
            var readBack = await File.ReadAllBytesAsync(back);
            Assert.True(bytes.AsSpan().SequenceEqual(readBack), "A did not read back what B wrote");

            await host.LogoutAsync(a, "node A's logout");
            await host.LogoutAsync(b, "node B's logout");
            passed = true;
        }
        finally
        {
            var stop = await host.StopAsync();
            if (!passed) output.WriteLine(string.Join('\n', lab.Log.Lines.TakeLast(80)));
            File.Delete(block);
            File.Delete(back);
            LabCommands.AssertStopped(stop);
        }
    }
    /// <summary>
    /// fence_scsi's way of taking a LUN away from a node: B preempts A's registration and reservation with PREEMPT AND
    /// ABORT, after which A can no longer write; both registered with APTPL, so after the target restarts (same state
    /// file, new process state) B's registration and reservation are back and still enforced, and B's new session takes
    /// them over.
    /// </summary>
    [LabFact(Needs = ["iscsiadm", "iscsid", "sg_persist"])]
    public async Task PreemptAndAbortFencesANodeAndAptplStateSurvivesATargetRestart()
    {
        var host = new LabCommands(output);
        string state = Path.Combine(Path.GetTempPath(), $"pr-aptpl-{Environment.ProcessId}.state");
        File.Delete(state);
        var lab = InProcessIserTarget.Start(16L << 20, LogLevel.Debug, iqn: Iqn, alsoTcp: true, persistentReservationFile: state);
        bool passed = false;
        try
        {
            var (a, b) = Nodes(lab);
            string diskA = await host.LoginAsync(a, "node A's login over iSER");
            string diskB = await host.LoginAsync(b, "node B's login over TCP");
            await host.MustAsync("sg_persist", ["--out", "--register", "--param-sark=0xa1", "--param-aptpl", diskA], "A's REGISTER (APTPL)");
            await host.MustAsync("sg_persist", ["--out", "--register", "--param-sark=0xb2", "--param-aptpl", diskB], "B's REGISTER (APTPL)");
            await host.MustAsync("sg_persist", ["--out", "--reserve", "--param-rk=0xa1", "--prout-type=1", diskA], "A's RESERVE (Write Exclusive)");
            await host.MustAsync("dd", ["if=/dev/zero", $"of={diskA}", "bs=4096", "count=1", "oflag=direct", "status=none"], "A's write under its reservation");

            await host.MustAsync("sg_persist", ["--out", "--preempt-abort", "--param-rk=0xb2", "--param-sark=0xa1", "--prout-type=1", diskB],
                "B's PREEMPT AND ABORT of A");
            await AssertHeldByB(host, diskB, "after the preemption");
            var fenced = await host.RunAsync("dd", ["if=/dev/zero", $"of={diskA}", "bs=4096", "count=1", "oflag=direct", "status=none"]);
            Assert.True(fenced.ExitCode != 0, $"A wrote after B preempted it:\n{fenced}");
            await host.MustAsync("dd", ["if=/dev/zero", $"of={diskB}", "bs=4096", "count=1", "oflag=direct", "status=none"], "B's write under its reservation");
            Assert.True(File.Exists(state), $"no APTPL state file at {state}");

            await host.LogoutAsync(a, "node A's logout");
            await host.LogoutAsync(b, "node B's logout");
            await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
            await lab.DisposeAsync();
            lab = InProcessIserTarget.Start(16L << 20, LogLevel.Debug, iqn: Iqn, alsoTcp: true, persistentReservationFile: state);

            (a, b) = Nodes(lab);
            diskA = await host.LoginAsync(a, "node A's login after the restart");
            diskB = await host.LoginAsync(b, "node B's login after the restart");
            await AssertHeldByB(host, diskA, "after the restart");
            fenced = await host.RunAsync("dd", ["if=/dev/zero", $"of={diskA}", "bs=4096", "count=1", "oflag=direct", "status=none"]);
            Assert.True(fenced.ExitCode != 0, $"A wrote after the restart although B's reservation was restored:\n{fenced}");
            // open-iscsi gives each new session a new ISID, so B's new session is another initiator port (SPC-4: name +
            // ISID), not the restored holder: it is refused too until it registers and takes the reservation over, as
            // fence_scsi does at a node's start (PREEMPT of its own key keeps its new registration, drops the old one).
            var stranger = await host.RunAsync("dd", ["if=/dev/zero", $"of={diskB}", "bs=4096", "count=1", "oflag=direct", "status=none"]);
            Assert.True(stranger.ExitCode != 0, $"B's new session (a new ISID) wrote through a reservation restored for its old one:\n{stranger}");
            await host.MustAsync("sg_persist", ["--out", "--register-ignore", "--param-sark=0xb2", diskB], "B's REGISTER AND IGNORE EXISTING KEY after the restart");
            await host.MustAsync("sg_persist", ["--out", "--preempt", "--param-rk=0xb2", "--param-sark=0xb2", "--prout-type=1", diskB],
                "B's PREEMPT of its old session's reservation");
            await AssertHeldByB(host, diskA, "after B took it over");
            await host.MustAsync("dd", ["if=/dev/zero", $"of={diskB}", "bs=4096", "count=1", "oflag=direct", "status=none"], "B's write after taking the reservation over");

            await host.MustAsync("sg_persist", ["--out", "--clear", "--param-rk=0xb2", diskB], "B's CLEAR");
            await host.LogoutAsync(a, "node A's logout");
            await host.LogoutAsync(b, "node B's logout");
            await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(30));
            passed = true;
        }
        finally
        {
            var stop = await host.StopAsync();
            if (!passed) output.WriteLine(string.Join('\n', lab.Log.Lines.TakeLast(80)));
            await lab.DisposeAsync();
            File.Delete(state);
            LabCommands.AssertStopped(stop);
        }
    }

    private static (string[] A, string[] B) Nodes(InProcessIserTarget lab)
    {
        var iser = lab.Listener.LocalEndPoint;
        var tcp = lab.TcpListener!.LocalEndPoint;
        return (["--portal", $"{iser.Address}:{iser.Port}", "--iqn", Iqn, "--transport", "iser", "--initiator-name", "iqn.2026-12.org.example:node-a"],
                ["--portal", $"{tcp.Address}:{tcp.Port}", "--iqn", Iqn, "--transport", "tcp", "--initiator-name", "iqn.2026-12.org.example:node-b"]);
    }

    private static async Task AssertHeldByB(LabCommands host, string disk, string when)
    {
        var keys = await host.MustAsync("sg_persist", ["--in", "--read-keys", disk], $"READ KEYS {when}");
        Assert.Contains("0xb2", keys.Stdout);
        Assert.DoesNotContain("0xa1", keys.Stdout);
        var held = await host.MustAsync("sg_persist", ["--in", "--read-reservation", disk], $"READ RESERVATION {when}");
        Assert.Contains("0xb2", held.Stdout);
        Assert.Contains("Write Exclusive", held.Stdout);
    }
}
