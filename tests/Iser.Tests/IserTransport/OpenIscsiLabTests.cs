using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Tests.Verbs;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Linux's own initiator (open-iscsi: iscsid with the kernel's iscsi_tcp or ib_iser) against our target in the
/// soft-RoCE guest, at ErrorRecoveryLevel 0 as open-iscsi runs: it logs in, the kernel attaches a SCSI disk, 4 MiB
/// written to that block device with O_DIRECT read back equal through it and through our own initiator (so the bytes
/// reached the LUN, not a cache), and after its logout the target holds no session (over iSER: no connection,
/// work request or registration).
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class OpenIscsiLabTests(ITestOutputHelper output)
{
    private const string Iqn = "iqn.2026-12.org.iser.test:open-iscsi";
    private const int Bytes = 4 << 20;

    [LabFact(Needs = ["iscsiadm", "iscsid"])]
    public Task OpenIscsiOverTcpWritesAndReadsBackThroughTheKernelsDisk() => RunAsync("tcp");

    [LabFact(Needs = ["iscsiadm", "iscsid"])]
    public Task OpenIscsiOverIserWritesAndReadsBackThroughTheKernelsDisk() => RunAsync("iser");

    /// <summary>
    /// CHAP with SHA-256 (CHAP_A 7) against Linux's initiator: a target that refuses MD5 logs open-iscsi in when it
    /// offers SHA-256 (open-iscsi's chap_algs) and turns it away when it offers MD5 alone.
    /// </summary>
    [LabFact(Needs = ["iscsiadm", "iscsid"])]
    public async Task OpenIscsiLogsInWithChapSha256AndATargetThatRefusesMd5TurnsAwayMd5()
    {
        var host = new LabCommands(output);
        await using var lab = InProcessIserTarget.Start(16L << 20, LogLevel.Debug, iqn: Iqn, alsoTcp: true);
        lab.Node.InitiatorChap = new Iser.Core.Iscsi.Login.ChapCredentials("open-iscsi", "a-secret-of-twenty-chars");
        lab.Node.ChapAlgorithms = [ChapAlgorithm.Sha256, ChapAlgorithm.Sha1];
        var endpoint = lab.TcpListener!.LocalEndPoint;
        string[] target = ["--portal", $"{endpoint.Address}:{endpoint.Port}", "--iqn", Iqn, "--transport", "tcp",
            "--chap", "open-iscsi:a-secret-of-twenty-chars"];
        try
        {
            var md5 = await host.OpenIscsiAsync(["login", .. target, "--chap-algs", "MD5"]);
            Assert.True(md5.ExitCode != 0, $"open-iscsi logged in offering MD5 alone to a target that refuses MD5:\n{md5}");
            Assert.Contains(lab.Log.Lines, l => l.Contains("accepts only sha256 (7)"));
            Assert.Equal(0, lab.Target.SessionCount);
            await host.OpenIscsiAsync(["logout", .. target]); // drops the node record that failed

            string disk = await host.LoginAsync([.. target, "--chap-algs", "SHA256,MD5"], "open-iscsi's login with CHAP SHA-256", () => Tail(lab));
            Assert.Contains(lab.Log.Lines, l => l.Contains("complete (CHAP sha256"));
            await host.MustAsync("dd", [$"if={disk}", "of=/dev/null", "bs=1M", "count=1", "iflag=direct", "status=none"], $"reading through {disk}");
            await host.LogoutAsync(target, "open-iscsi's logout");
        }
        finally
        {
            LabCommands.AssertStopped(await host.StopAsync());
        }
    }

    private async Task RunAsync(string transport)
    {
        var host = new LabCommands(output);
        await using var lab = InProcessIserTarget.Start(64L << 20, LogLevel.Debug, iqn: Iqn, alsoTcp: true);
        var endpoint = transport == "iser" ? lab.Listener.LocalEndPoint : lab.TcpListener!.LocalEndPoint;
        string portal = $"{endpoint.Address}:{endpoint.Port}";
        string[] target = ["--portal", portal, "--iqn", Iqn, "--transport", transport];
        string pattern = Path.Combine(Path.GetTempPath(), $"open-iscsi-{transport}-{Environment.ProcessId}.bin");
        string back = pattern + ".back";
        var written = new byte[Bytes];
        Random.Shared.NextBytes(written);
        await File.WriteAllBytesAsync(pattern, written);
        bool passed = false;
        try
        {
            string disk = await host.LoginAsync(target, $"open-iscsi's login over {transport}", () => Tail(lab));
            Assert.Equal(1, lab.Target.SessionCount);

            await host.MustAsync("dd", [$"if={pattern}", $"of={disk}", "bs=1M", "oflag=direct", "conv=fsync", "status=none"],
                $"writing through {disk}", () => Tail(lab));
            await host.MustAsync("dd", [$"if={disk}", $"of={back}", "bs=1M", $"count={Bytes >> 20}", "iflag=direct", "status=none"],
                $"reading through {disk}", () => Tail(lab));
            var readBack = await File.ReadAllBytesAsync(back);
            Assert.True(written.AsSpan().SequenceEqual(readBack), $"{disk} read back other bytes than were written");

            await host.LogoutAsync(target, "open-iscsi's logout");
            if (transport == "iser") await lab.AssertEverythingFreedAsync(TimeSpan.FromSeconds(40));
            else
            {
                for (int i = 0; i < 400 && lab.Target.SessionCount != 0; i++) await Task.Delay(50);
                Assert.True(lab.Target.SessionCount == 0, $"the target still holds {lab.Target.SessionCount} session(s) after open-iscsi's logout");
            }

            // The bytes are on the LUN: our own initiator reads them back over TCP.
            await using var session = await IscsiSession.ConnectAsync(new IscsiSessionOptions
            {
                Host = lab.TcpListener!.LocalEndPoint.Address.ToString(), Port = lab.TcpListener.LocalEndPoint.Port, TargetName = Iqn,
                LoggerFactory = lab.Log.Factory,
            }, new TcpInitiatorTransport());
            var lun = await session.OpenLunAsync(0);
            var onLun = new byte[Bytes];
            await lun.ReadAsync(0, onLun);
            Assert.True(written.AsSpan().SequenceEqual(onLun), "the LUN holds other bytes than open-iscsi wrote");
            passed = true;
        }
        finally
        {
            var stop = await host.StopAsync();
            if (!passed) output.WriteLine(Tail(lab));
            File.Delete(pattern);
            File.Delete(back);
            LabCommands.AssertStopped(stop);
        }
    }

    private static string Tail(InProcessIserTarget lab) => string.Join('\n', lab.Log.Lines.TakeLast(60));
}
