using Iser.Core.Iscsi.Initiator;
using Iser.Tests.Peers;
using Iser.Transport.Tcp;

namespace Iser.Tests.Cli;

/// <summary>`iser target` stopped by SIGTERM says so and nothing else: an operator reads a warning as a fault.</summary>
public class TargetStopTests
{
    [Fact]
    public async Task A_target_stopped_by_sigterm_after_serving_exits_0_without_a_warning()
    {
        var target = await OurTargetProcess.StartAsync();
        await using (target)
        {
            var options = new IscsiSessionOptions { Host = "127.0.0.1", Port = target.Port, TargetName = target.TargetIqn };
            await using (var session = await IscsiSession.ConnectAsync(options, new TcpInitiatorTransport()))
                await (await session.OpenLunAsync(OurTargetProcess.FirstLun)).ReadAsync(0, new byte[4096]);

            await target.StopAndAssertCleanExitAsync();
            string transcript = target.Transcript;
            int stopping = transcript.LastIndexOf("stopping", StringComparison.Ordinal);
            Assert.True(stopping >= 0, $"The target never said 'stopping'. Its output:\n{transcript}");
            string shutdown = transcript[stopping..];
            // Listeners closed under a pending accept once logged "warn: Accept on ... failed: Operation canceled".
            Assert.DoesNotContain(" warn: ", shutdown);
            Assert.DoesNotContain(" fail: ", shutdown);
            Assert.Contains("stopped", shutdown);
        }
    }
}
