using System.Net;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.Initiator;
using Iser.Tests.Peers;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// ALUA as Linux uses it: open-iscsi logs in to one LUN of our target through two portals in two portal groups (group
/// 1 over iSER, active/optimized; group 2 over TCP, active/non-optimized); dm-multipath (multipathd, scsi_dh_alua)
/// builds one map with the two priorities; fio writes and verifies through the map while group 1 is set standby, then
/// unavailable, then active/optimized again. No I/O error, every block verified, the writes move to group 2's path
/// while group 1 refuses them (the kernel makes group 2 active/optimized by SET TARGET PORT GROUPS as it fails over)
/// and come back to group 1's path after it returns (both groups active/optimized then: one path group of two).
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class DmMultipathAluaLabTests(ITestOutputHelper output)
{
    private const string Iqn = "iqn.2026-12.org.iser.test:multipath";

    [LabFact(Needs = ["iscsiadm", "iscsid", "multipath", "multipathd", "fio", "udevadm"])]
    public async Task FioVerifiesThroughDmMultipathWhileTheOptimizedGroupGoesStandbyUnavailableAndBack()
    {
        var host = new LabCommands(output);
        string multipath = LabCommands.Script("multipath.sh");

        var log = new CapturedLog(LogLevel.Information);
        await using var target = new IscsiTarget(new IscsiTargetOptions(), log.Factory);
        var node = new TargetNode(Iqn);
        node.AddLun(0, new BlockDeviceLogicalUnit(new RamBackingStore(64L << 20), new BlockDeviceOptions { BlockSize = 512, Identity = $"{Iqn}/0" },
            log.Factory.CreateLogger("Iser.Target.Lun")));
        target.AddNode(node);
        var iser = new IserDatamoverListener(new IPEndPoint(LabEnvironment.Address, 0), new IserOptions { QueueDepth = 128 }, log.Factory.CreateLogger("Iser.Iser"));
        var tcp = new TcpDatamoverListener(new IPEndPoint(LabEnvironment.Address, 0), log.Factory.CreateLogger("Iser.Tcp"));
        target.Listen(iser, portalGroupTag: 1);
        target.Listen(tcp, portalGroupTag: 2);
        target.SetAccessState(2, AluaState.ActiveNonOptimized);
        string[] pathA = ["--portal", $"{iser.LocalEndPoint.Address}:{iser.LocalEndPoint.Port}", "--iqn", Iqn, "--transport", "iser"];
        string[] pathB = ["--portal", $"{tcp.LocalEndPoint.Address}:{tcp.LocalEndPoint.Port}", "--iqn", Iqn, "--transport", "tcp"];

        bool passed = false;
        await host.MustAsync(multipath, ["start"], "starting udevd and multipathd");
        try
        {
            string diskA = await host.LoginAsync(pathA, "the login over iSER (portal group 1)");
            string diskB = await host.LoginAsync(pathB, "the login over TCP (portal group 2)");
            var map = await host.MustAsync(multipath, ["map", diskA, diskB], "building the multipath map");
            string dm = map.Stdout.Trim().Split('\n')[^1].Trim();
            // Two path groups: ALUA's priorities, 50 for active/optimized and 10 for active/non-optimized.
            Assert.Contains("hwhandler='1 alua'", map.Stdout);
            Assert.Contains("prio=50", map.Stdout);
            Assert.Contains("prio=10", map.Stdout);

            await using var fio = ExternalProcess.Start("fio", [
                "--name=verify", $"--filename={dm}", "--rw=randwrite", "--bs=4k", "--size=32M", "--ioengine=libaio",
                "--iodepth=8", "--direct=1", "--verify=crc32c", "--verify_backlog=32", "--verify_fatal=1",
                "--verify_state_save=0", "--time_based", "--runtime=60"]);
            var a = Path.GetFileName(diskA);
            var b = Path.GetFileName(diskB);

            long aBefore = Writes(a);
            await Task.Delay(TimeSpan.FromSeconds(8));
            Assert.True(Writes(a) > aBefore, $"fio's writes did not go through the active/optimized path {diskA}");

            foreach (var state in new[] { AluaState.Standby, AluaState.Unavailable })
            {
                target.SetAccessState(1, state);
                await Task.Delay(TimeSpan.FromSeconds(5)); // the kernel fails the path over on the first refused write
                long aAt = Writes(a), bAt = Writes(b);
                await Task.Delay(TimeSpan.FromSeconds(8));
                Assert.True(Writes(b) > bAt, $"with group 1 {state}, no write went through group 2's path {diskB}");
                Assert.True(Writes(a) == aAt, $"with group 1 {state}, writes still completed through its path {diskA}");
                Assert.False(fio.HasExited, $"fio stopped with group 1 {state}:\n{fio.Transcript}");
                // Failing over, Linux's scsi_dh_alua activates the group it moves to with SET TARGET PORT GROUPS (our
                // INQUIRY offers explicit transitions), so group 2 is now active/optimized.
                Assert.Equal(AluaState.ActiveOptimized, target.AccessStates.StateOf(2));
            }

            target.SetAccessState(1, AluaState.ActiveOptimized);
            long aBack = Writes(a);
            bool failedBack = false;
            for (int i = 0; i < 40 && !failedBack; i++)
            {
                await Task.Delay(TimeSpan.FromSeconds(0.5));
                failedBack = Writes(a) > aBack + 100;
            }
            if (!failedBack)
                Assert.Fail($"writes did not come back to {diskA} within 20 s of group 1 becoming active/optimized again:\n{(await host.RunAsync(multipath, ["show"])).Stdout}");

            int exit = await fio.WaitForExitAsync(TimeSpan.FromSeconds(120));
            output.WriteLine(fio.Transcript);
            Assert.True(exit == 0, $"fio failed (exit {exit}): an I/O error or a block that did not verify:\n{fio.Transcript}");
            Assert.Contains("err= 0", fio.Transcript);

            await host.MustAsync(multipath, ["flush"], "flushing the multipath map");
            await host.LogoutAsync(pathA, "the logout over iSER");
            await host.LogoutAsync(pathB, "the logout over TCP");
            var freed = System.Diagnostics.Stopwatch.StartNew();
            while ((target.SessionCount != 0 || IserConnectionCounters.LiveConnections != 0 || IserConnectionCounters.OutstandingWorkRequests != 0)
                   && freed.Elapsed < TimeSpan.FromSeconds(30))
                await Task.Delay(50);
            Assert.Equal(0, target.SessionCount);
            Assert.Equal(0, IserConnectionCounters.LiveConnections);
            Assert.True(IserConnectionCounters.OutstandingWorkRequests == 0,
                $"{IserConnectionCounters.OutstandingWorkRequests} RDMA work request(s) posted and never completed after both logouts");
            passed = true;
        }
        finally
        {
            var stopIscsi = await host.StopAsync();
            var stopMultipath = await host.RunAsync(multipath, ["stop"]);
            if (!passed) output.WriteLine(string.Join('\n', log.Lines.TakeLast(80)));
            LabCommands.AssertStopped(stopIscsi);
            LabCommands.AssertSucceeded(stopMultipath, "stopping multipath (maps, multipathd, udevd, the /etc overlay)");
        }
    }

    /// <summary>Writes completed by a disk so far (/sys/block/DISK/stat, field 5).</summary>
    private static long Writes(string disk) =>
        long.Parse(File.ReadAllText($"/sys/block/{disk}/stat").Split(' ', StringSplitOptions.RemoveEmptyEntries)[4]);
}
