using Iser.Tests.Peers;
using Xunit.Abstractions;

namespace Iser.Tests.Rbd;

/// <summary>
/// libiscsi's tier-1 families (<see cref="ConformanceFamilies.All"/>, the list <see cref="ConformanceTests"/> runs on a
/// RAM LUN) against our target process serving an rbd LUN on the test Ceph cluster: one fresh 64 MiB image and one
/// fresh target per family, as on RAM; every test must run, none may fail, none may skip. Those families carry no
/// allowance for libiscsi's own faults on RAM, so none is made here either.
/// </summary>
[Collection(CephCollection.Name)]
[Trait("Category", "Ceph")]
public sealed class RbdConformanceTests(CephCluster cluster, ITestOutputHelper output)
{
    private const long Size = 64L << 20;

    [CephTheory(Peer.LibiscsiTools)]
    [MemberData(nameof(ConformanceFamilies.Data), MemberType = typeof(ConformanceFamilies))]
    public async Task Family_passes_on_an_rbd_lun_with_no_failures_and_no_skips(string family)
    {
        string image = await cluster.CreateImageAsync("conformance", Size);
        try
        {
            await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions
            {
                Luns = new[] { $"rbd:rbd/{image}{cluster.SpecOptions}" },
            });
            // The target says what it serves: the LUN must be this image at its size, not some other store.
            Assert.Contains($"lun 0: rbd:rbd/{image}:64 MiB, 131072 blocks of 512 bytes", target.Transcript);

            var result = await new LibiscsiTools().TestSuiteAsync(target.LunUrl(), family);
            output.WriteLine(result.Describe());

            Assert.True(result.SummaryFound, $"iscsi-test-cu printed no CUnit summary.\n{result.Output}\nTarget output:\n{target.Transcript}");
            Assert.True(result.TestsRun > 0, $"iscsi-test-cu ran no test of {family}.\n{result.Output}");
            Assert.True(result.TestsFailed == 0 && result.FailedTests.Count == 0,
                $"{family} on rbd: {result.TestsFailed} test(s) failed.\n{result.Describe()}\nTarget output:\n{target.Transcript}");
            Assert.True(result.SkippedTests.Count == 0, $"{family} on rbd: {result.SkippedTests.Count} test(s) skipped.\n{result.Describe()}");
            Assert.Equal(0, result.ExitCode);

            await target.StopAndAssertCleanExitAsync();
        }
        finally
        {
            // The cluster's memory store holds 2 GiB: each family's image goes once its target has closed it.
            try { await cluster.RbdAsync("rm", "--no-progress", $"rbd/{image}"); }
            catch (InvalidOperationException e) { output.WriteLine($"(cleanup) {e.Message}"); }
        }
    }
}
