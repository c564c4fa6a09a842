using System.Diagnostics;
using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Our iSER initiator against tgtd's iSER target in the lab guest (LAB.md: `tgtd -f --iser pool_sz_mb=128`, the
/// target bound to ALL and to our initiator name). tgt refuses transfers above 512 KiB per task over iSER.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")]
public sealed class IserAgainstTgtdLabTests(ITestOutputHelper output)
{
    private const string TargetIqn = "iqn.2026-11.org.example:tgtd-iser";
    private const string InitiatorIqn = "iqn.2026-11.org.example:ours-iser";

    // Found in the lab: tgtd's final iSER Login Response says ExpCmdSN=2 while its session expects CmdSN 1 (its NOP-Ins
    // say ExpCmdSN=1); the initiator core starts at the login response's ExpCmdSN, so its first command waits in tgtd's
    // CmdSN queue forever (READ CAPACITY times out after 60 s). Login, NOP-In and TMF over iSER with tgtd do work.
    [LabFact(Needs = ["tgtd", "tgtadm"])]
    public async Task OurInitiatorWritesAndReadsBackThroughTgtdOverIser()
    {
        string control = Random.Shared.Next(100, 900).ToString();
        string disk = Path.Combine(Path.GetTempPath(), $"tgtd-iser-{control}.img");
        await using (var f = File.Create(disk)) f.SetLength(32L << 20);
        using var tgtd = Process.Start(new ProcessStartInfo("tgtd", $"-f -d 1 -C {control} --iser pool_sz_mb=128 --iscsi portal=127.0.0.1:{3300 + int.Parse(control)}")
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var tgtdOut = tgtd.StandardOutput.ReadToEndAsync();
        var tgtdErr = tgtd.StandardError.ReadToEndAsync();
        var log = new global::Iser.Tests.Initiator.CapturedLog(Microsoft.Extensions.Logging.LogLevel.Trace);
        try
        {
            await Task.Delay(1500);
            await TgtadmAsync(control, "--lld iser --op new --mode target --tid 1 -T " + TargetIqn);
            await TgtadmAsync(control, $"--lld iser --op new --mode logicalunit --tid 1 --lun 1 -b {disk}");
            await TgtadmAsync(control, "--lld iser --op bind --mode target --tid 1 -I ALL");
            await TgtadmAsync(control, $"--lld iser --op bind --mode target --tid 1 --initiator-name {InitiatorIqn}");

            var options = new IscsiSessionOptions
            {
                LoggerFactory = log.Factory,
                Host = LabEnvironment.Address.ToString(),
                Port = 3260,
                TargetName = TargetIqn,
                InitiatorName = InitiatorIqn,
                LoginTimeout = TimeSpan.FromSeconds(30),
                Reconnect = new ReconnectOptions { Enabled = false },
            };
            await using var session = await IscsiSession.ConnectAsync(options, InitiatorTransports.Create(TransportKind.Iser, log.Factory));
            Assert.True(session.Negotiated.Connection.RdmaExtensions);
            var lun = await session.OpenLunAsync(1);
            Assert.Equal(32L * 1024 * 1024 / 512, lun.BlockCount);
            long lba = 0;
            foreach (int size in new[] { 512, 4096, 65536, 262144, 512 * 1024 })
            {
                var data = LabEnvironment.Pattern(size, size);
                await lun.WriteAsync(lba, data);
                var back = new byte[size];
                await lun.ReadAsync(lba, back);
                Assert.True(data.AsSpan().SequenceEqual(back), $"{size} bytes at LBA {lba} read back from tgtd differ");
                lba += size / 512 + 8;
            }
            var many = Enumerable.Range(0, 32).Select(i => LabEnvironment.Pattern(8192, 77 + i)).ToArray();
            await Task.WhenAll(many.Select((d, i) => lun.WriteAsync(10000 + i * 16, d).AsTask()));
            var backs = Enumerable.Range(0, 32).Select(_ => new byte[8192]).ToArray();
            await Task.WhenAll(backs.Select((b, i) => lun.ReadAsync(10000 + i * 16, b).AsTask()));
            for (int i = 0; i < 32; i++) Assert.True(many[i].AsSpan().SequenceEqual(backs[i]), $"command {i}: data differs");
            await session.LogoutAsync();
        }
        finally
        {
            await TgtadmAsync(control, "--lld iser --op delete --force --mode target --tid 1", check: false);
            await TgtadmAsync(control, "--op delete --mode system", check: false);
            if (!tgtd.WaitForExit(10_000)) tgtd.Kill();
            foreach (var line in log.Lines) output.WriteLine(line);
            string tgtdText = (await tgtdOut) + (await tgtdErr);
            output.WriteLine("tgtd: " + (tgtdText.Length > 20000 ? tgtdText[^20000..] : tgtdText));
            File.Delete(disk);
        }
        for (int i = 0; i < 200 && IserConnectionCounters.LiveConnections != 0; i++) await Task.Delay(100);
        Assert.Equal(0, IserConnectionCounters.LiveConnections);
    }

    private async Task TgtadmAsync(string control, string arguments, bool check = true)
    {
        using var p = Process.Start(new ProcessStartInfo("tgtadm", $"-C {control} {arguments}") { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var err = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        output.WriteLine($"tgtadm {arguments} -> {p.ExitCode} {await err}");
        if (check) Assert.True(p.ExitCode == 0, $"tgtadm {arguments} failed: {await err}");
    }
}
