using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Initiator;
using Iser.Tests.Verbs;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// Our iSER initiator against the Linux kernel's own target (LIO, iscsi_target_mod with ib_isert) in the lab guest,
/// configured through configfs by native/lab/lio-iser-target.py (python3-rtslib-fb): a 64 MiB RAM disk as LUN 0 of
/// iqn.2026-11.org.example:lio, demo mode (any initiator, no CHAP), one portal on the lab address with iSER on.
/// </summary>
[Trait("Category", "Lab")]
[Collection("iSER lab")] // IserConnectionCounters are process-wide
public sealed class IserAgainstLioLabTests(ITestOutputHelper output)
{
    private const string TargetIqn = "iqn.2026-11.org.example:lio";
    private const string InitiatorIqn = "iqn.2026-11.org.example:ours-lio";
    private const int Port = 3261; // not 3260, which tgtd's iSER portal takes in IserAgainstTgtdLabTests
    private const int SizeMiB = 64;

    [LabFact]
    public async Task OurInitiatorWritesAndReadsBackThroughLinuxLioOverIser()
    {
        var host = new LabCommands(output);
        string script = LabCommands.LioTargetScript();

        string address = LabEnvironment.Address.ToString();
        var log = new CapturedLog(LogLevel.Debug);
        bool passed = false;
        try
        {
            var setup = await host.RunPythonAsync(script, $"setup --iqn {TargetIqn} --address {address} --port {Port} --size-mb {SizeMiB}");
            Assert.True(setup.ExitCode == 0, $"Setting up LIO failed:\n{setup}");
            Assert.True(Directory.Exists("/sys/module/ib_isert"), "ib_isert is not loaded although the portal accepted iSER.");

            var options = new IscsiSessionOptions
            {
                LoggerFactory = log.Factory,
                Host = address,
                Port = Port,
                TargetName = TargetIqn,
                InitiatorName = InitiatorIqn,
                LoginTimeout = TimeSpan.FromSeconds(30),
                CommandTimeout = TimeSpan.FromSeconds(120),
                Reconnect = new ReconnectOptions { Enabled = false },
            };
            var session = await IscsiSession.ConnectAsync(options, InitiatorTransports.Create(TransportKind.Iser, log.Factory));
            try
            {
                Assert.Equal("iser", session.TransportName);
                var negotiated = session.Negotiated.Connection;
                Assert.True(negotiated.RdmaExtensions, "LIO did not accept RDMAExtensions=Yes");
                output.WriteLine($"negotiated with LIO: InitialR2T={negotiated.InitialR2T} ImmediateData={negotiated.ImmediateData}");

                var lun = await session.OpenLunAsync(0);
                Assert.Equal(512, lun.BlockSize);
                Assert.Equal((long)SizeMiB * 1024 * 1024 / 512, lun.BlockCount);
                var inquiry = await lun.InquiryAsync();
                output.WriteLine($"LUN 0: {inquiry}");

                // One command at a time, 512 B to 1 MiB; each read must return exactly what was written.
                long lba = 0;
                foreach (int size in new[] { 512, 4096, 65536, 262144, 263680, 512 * 1024, 1 << 20 })
                {
                    var data = LabEnvironment.Pattern(size, size);
                    await lun.WriteAsync(lba, data);
                    var back = new byte[size];
                    await lun.ReadAsync(lba, back);
                    Assert.True(data.AsSpan().SequenceEqual(back), $"{size} bytes at LBA {lba} read back from LIO differ from what was written");
                    lba += size / 512 + 8;
                }

                // 32 commands in flight: 32 writes of 8 KiB, then 32 reads of the same blocks.
                var many = Enumerable.Range(0, 32).Select(i => LabEnvironment.Pattern(8192, 500 + i)).ToArray();
                await Task.WhenAll(many.Select((d, i) => lun.WriteAsync(20000 + i * 16, d).AsTask()));
                var backs = Enumerable.Range(0, 32).Select(_ => new byte[8192]).ToArray();
                await Task.WhenAll(backs.Select((b, i) => lun.ReadAsync(20000 + i * 16, b).AsTask()));
                for (int i = 0; i < 32; i++)
                    Assert.True(many[i].AsSpan().SequenceEqual(backs[i]), $"command {i} of 32 in flight: data read back from LIO differs");

                Assert.True(IserConnectionCounters.LiveConnections >= 1);
                await session.LogoutAsync();
            }
            finally
            {
                await session.DisposeAsync();
            }

            for (int i = 0; i < 200 && IserConnectionCounters.LiveConnections != 0; i++) await Task.Delay(100);
            Assert.Equal(0, IserConnectionCounters.LiveConnections);
            Assert.Equal(0, IserConnectionCounters.OutstandingWorkRequests);
            Assert.Equal(0, IserConnectionCounters.RegisteredBytes);
            passed = true;
        }
        finally
        {
            var teardown = await host.RunPythonAsync(script, $"teardown --iqn {TargetIqn}");
            if (!passed)
            {
                foreach (string line in log.Lines) output.WriteLine(line);
                output.WriteLine("kernel log (dmesg, last 150 lines):\n" + await LabCommands.DmesgTailAsync(150));
            }
            Assert.True(teardown.ExitCode == 0, $"Tearing LIO down failed:\n{teardown}");
            Assert.False(Directory.Exists($"/sys/kernel/config/target/iscsi/{TargetIqn}"), "LIO's target is still configured after the teardown.");
        }
    }
}
