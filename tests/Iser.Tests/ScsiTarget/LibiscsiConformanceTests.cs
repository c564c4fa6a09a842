using System.Diagnostics;
using System.Text.RegularExpressions;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget;

/// <summary>
/// Runs libiscsi's conformance suite (iscsi-test-cu, Debian package libiscsi-bin) against the block device
/// through a test-only loopback iSCSI responder: every listed suite must pass with no test skipped.
/// Slow (about a minute); filter with Category=Conformance.
/// </summary>
[Trait("Category", "Conformance")]
public sealed class LibiscsiConformanceTests : IDisposable
{
    private const string Tool = "/usr/bin/iscsi-test-cu";
    private readonly string _directory = Directory.CreateTempSubdirectory("iser-cu-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static readonly string[] Suites =
    [
        "TestUnitReady", "Inquiry", "ReadCapacity10", "ReadCapacity16",
        "Read10", "Read12", "Read16", "Write10", "Write12", "Write16",
        "Verify10", "Verify12", "Verify16", "WriteVerify10", "WriteVerify12", "WriteVerify16",
        "ModeSense6", "CompareAndWrite", "Unmap", "WriteSame10", "WriteSame16",
    ];

    // With 4096-byte blocks the physical block must be larger than one logical block, or libiscsi skips its
    // unaligned-unmap and data-out-size tests (they need LBPPB >= 2).
    [Theory]
    [InlineData("ram", 512, 4096)]
    [InlineData("file", 512, 4096)]
    [InlineData("ram", 4096, 32768)]
    public async Task Scsi_suites_pass_without_skips(string kind, int blockSize, int physicalBlockSize)
    {
        Assert.True(File.Exists(Tool), $"{Tool} is not installed (apt-get install libiscsi-bin).");
        IBackingStore store = kind == "ram"
            ? new RamBackingStore(256L << 20)
            : FileBackingStore.Open(Path.Combine(_directory, "cu.img"), 256L << 20);
        var options = new BlockDeviceOptions
        {
            Identity = "conformance-" + kind, BlockSize = blockSize, PhysicalBlockSize = physicalBlockSize, LunList = () => [0],
        };
        await using var lu = new BlockDeviceLogicalUnit(store, options);
        await using var responder = new LoopbackIscsiResponder(lu);

        string tests = string.Join(",", Suites.Select(s => "SCSI." + s));
        var psi = new ProcessStartInfo(Tool,
            ["--dataloss", "-t", tests, "-i", "iqn.2026-11.org.example:conformance", $"iscsi://127.0.0.1:{responder.Port}/iqn.2026-11.org.example:lu/0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
        string output = await stdout + await stderr;

        var failures = output.Split('\n').Where(l => l.Contains("FAILED")).ToList();
        Assert.True(failures.Count == 0, "libiscsi reported failures:\n" + string.Join("\n", failures.Take(20)));
        // The suite's own setup probes PERSISTENT RESERVE IN and says "[SKIPPED]" when it is absent; that is not a test.
        var skips = output.Split('\n').Where(l => l.Contains("SKIPPED") && !l.Contains("PERSISTENT RESERVE")).ToList();
        Assert.True(skips.Count == 0, "libiscsi skipped tests:\n" + string.Join("\n", skips));
        var summary = Regex.Match(output, @"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)");
        Assert.True(summary.Success, "no CUnit summary in the output:\n" + output[..Math.Min(2000, output.Length)]);
        int total = int.Parse(summary.Groups[1].Value), ran = int.Parse(summary.Groups[2].Value);
        int passed = int.Parse(summary.Groups[3].Value), failed = int.Parse(summary.Groups[4].Value);
        Assert.Equal(0, failed);
        Assert.Equal(total, ran);
        Assert.Equal(ran, passed);
        Assert.True(total >= 120, $"only {total} tests ran");
    }
}
