using Xunit.Abstractions;

namespace Iser.Tests.Peers;

/// <summary>
/// The whole SCSI family of libiscsi's suite against our target on other backing stores and block sizes than
/// <see cref="ConformanceTests"/> covers (RAM, 512-byte blocks): nothing may fail there either.
/// </summary>
[Trait("Category", "Peers")]
[Collection(ConformanceCollection.Name)]
public sealed class StoreConformanceTests
{
    private readonly ITestOutputHelper _output;

    public StoreConformanceTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// Tests that read or write one 512-byte block whatever the logical unit's block size (libiscsi 1.19's
    /// verify_read_works / verify_write_works hard-code it): on a 4096-byte unit that command's 512-byte Expected Data
    /// Transfer Length cannot carry the block, and the target refuses it, so they fail for a reason of their own.
    /// </summary>
    private static readonly HashSet<string> Assumes512ByteBlocks =
    [
        "ProutReserve.AccessEA", "ProutReserve.AccessWE", "ProutReserve.AccessEARO",
        "ProutReserve.AccessWERO", "ProutReserve.AccessEAAR", "ProutReserve.AccessWEAR",
    ];

    [PeerTheory(Peer.LibiscsiTools)]
    [InlineData("file", 512)]
    [InlineData("file-direct", 4096)]
    [InlineData("ram", 4096)]
    public async Task Scsi_family_passes_on_store_and_block_size(string store, int blockSize)
    {
        var directory = Directory.CreateTempSubdirectory("iser-store-");
        try
        {
            string lun = store switch
            {
                "file" => $"file:{Path.Combine(directory.FullName, "lun.img")}:64M",
                "file-direct" => $"file:{Path.Combine(directory.FullName, "lun.img")}:64M:direct",
                _ => "ram:64M",
            };
            await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions
            {
                Luns = new[] { lun },
                ExtraArguments = new[] { "--block-size", blockSize.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            });
            var result = await new LibiscsiTools().TestSuiteAsync(target.LunUrl(), "SCSI");
            _output.WriteLine(result.Describe());
            Assert.True(result.SummaryFound, $"iscsi-test-cu printed no CUnit summary.\n{result.Output}");
            Assert.True(result.TestsRun > 100, $"only {result.TestsRun} tests ran.\n{result.Output}");
            var failed = result.FailedTests
                .Where(t => blockSize == 512 || !Assumes512ByteBlocks.Contains(t))
                .Where(t => blockSize != 512 || t != ConformanceFamilies.UnmapSingleAssumesOneBlockPerPhysicalBlock)
                .ToList();
            Assert.True(failed.Count == 0 && result.TestsFailed == result.FailedTests.Count - failed.Count,
                $"SCSI on {store}/{blockSize}: {failed.Count} test(s) failed.\n{result.Describe()}\nTarget output:\n{target.Transcript}");
            await target.StopAndAssertCleanExitAsync();
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
