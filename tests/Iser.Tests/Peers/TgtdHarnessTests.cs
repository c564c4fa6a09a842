namespace Iser.Tests.Peers;

/// <summary>
/// The peer harness checked against tgtd, a known target: the same tools, parsers, CHAP set-up and integrity
/// scenarios the tests of our target use must give tgtd's known answers.
/// </summary>
[Trait("Category", "Peers")]
public sealed class TgtdHarnessTests : IClassFixture<TgtdFixture>
{
    private readonly TgtdFixture _fixture;

    public TgtdHarnessTests(TgtdFixture fixture) => _fixture = fixture;

    [PeerFact(Peer.Tgtd | Peer.LibiscsiTools)]
    public async Task Inquiry_shows_tgtd_identity()
    {
        var inquiry = await new LibiscsiTools().InquiryAsync(_fixture.Instance.LunUrl());
        StandardInquiryChecks.AssertDiskIdentity(inquiry);
        Assert.Equal("IET     ", inquiry.Vendor);
        Assert.Equal("VIRTUAL-DISK    ", inquiry.Product);
    }

    [PeerFact(Peer.Tgtd | Peer.LibiscsiTools)]
    public async Task Listing_shows_the_controller_and_both_disks()
    {
        var tgtd = _fixture.Instance;
        var listing = await new LibiscsiTools().ListAsync(tgtd.PortalUrl());
        Assert.True(listing.Succeeded, listing.Process.ToString());
        var target = Assert.Single(listing.Targets);
        Assert.Equal(tgtd.TargetIqn, target.Iqn);
        Assert.Equal($"{tgtd.Portal},1", target.Portal);
        Assert.Equal(new[] { 0, 1, 2 }, target.Luns.Select(l => l.Lun).ToArray());
        Assert.Equal("STORAGE_ARRAY_CONTROLLER", target.Luns[0].Type);
        Assert.Equal("DIRECT_ACCESS", target.Luns[1].Type);
        Assert.Equal("DIRECT_ACCESS", target.Luns[2].Type);
    }

    [PeerFact(Peer.Tgtd | Peer.LibiscsiTools)]
    public async Task ReadCapacity16_matches_the_backing_file_sizes()
    {
        var tgtd = _fixture.Instance;
        var tools = new LibiscsiTools();
        for (int i = 0; i < TgtdFixture.LunSizes.Count; i++)
        {
            var capacity = await tools.ReadCapacity16Async(tgtd.LunUrl(tgtd.Luns[i]));
            Assert.True(capacity.Succeeded, capacity.Process.ToString());
            Assert.Equal(512, capacity.BlockLength);
            Assert.Equal(TgtdFixture.LunSizes[i], capacity.CapacityInBytes);
            Assert.Equal(TgtdFixture.LunSizes[i], capacity.TotalSize);
        }
    }

    [PeerFact(Peer.Tgtd | Peer.LibiscsiTools)]
    public async Task Perf_reports_iops_and_transfer_size()
    {
        var report = await new LibiscsiTools().PerfAsync(_fixture.Instance.LunUrl(), blocksPerRequest: 8, maxInFlight: 4, random: true, seconds: 1);
        Assert.True(report.Succeeded, report.Process.ToString());
        Assert.Equal(4096, report.TransferBytes);
        Assert.Equal(TgtdFixture.LunSizes[0] / 512, report.BlockCount);
        Assert.True(report.AverageIops > 0, report.Process.ToString());
    }

    [PeerFact(Peer.Tgtd | Peer.LibiscsiTools)]
    public async Task TestCu_result_names_failures_and_skips_and_matches_cunit_counts()
    {
        // On a fresh tgtd LUN, SCSI.Unmap skips everything (tgtd's file LUN is not thin-provisioned) and
        // SCSI.GetLBAStatus fails BeyondEol (tgtd answers GET LBA STATUS past the end): one run shows both paths.
        await using var tgtd = await TgtdInstance.StartAsync();
        var tools = new LibiscsiTools();

        var unmap = await tools.TestSuiteAsync(tgtd.LunUrl(), "SCSI.Unmap");
        Assert.True(unmap.SummaryFound, unmap.Output);
        Assert.Equal(unmap.Tests!.Ran, unmap.AllTests.Count);
        Assert.Equal(unmap.Tests.Ran, unmap.SkippedTests.Count);
        Assert.All(unmap.SkippedTests, s => Assert.Equal("Unmap", s.Suite));
        Assert.Equal(0, unmap.TestsPassedNotSkipped);

        var lbaStatus = await tools.TestSuiteAsync(tgtd.LunUrl(), "SCSI.GetLBAStatus");
        Assert.True(lbaStatus.SummaryFound, lbaStatus.Output);
        Assert.Equal(lbaStatus.Tests!.Failed, lbaStatus.FailedTests.Count);
        Assert.Contains("GetLBAStatus.BeyondEol", lbaStatus.FailedTests);
        Assert.Contains("[FAILED]", lbaStatus.FailingOutput, StringComparison.Ordinal);
    }

    [PeerFact(Peer.Tgtd | Peer.LibiscsiTools)]
    public async Task One_way_chap_admits_the_right_secret_only()
    {
        var chap = new ChapCredentials("iser-test-user", "secret-for-chap1");
        await using var tgtd = await TgtdInstance.StartAsync(new TgtdOptions { Chap = chap });
        var tools = new LibiscsiTools();

        var admitted = await tools.InquiryAsync(tgtd.LunUrl(chap: chap));
        Assert.True(admitted.Succeeded, admitted.Process.ToString());
        var wrong = await tools.InquiryAsync(tgtd.LunUrl(chap: chap with { Secret = "wrong-secret-123" }));
        Assert.NotEqual(0, wrong.Process.ExitCode);
        var none = await tools.InquiryAsync(tgtd.LunUrl());
        Assert.NotEqual(0, none.Process.ExitCode);
    }

    [PeerFact(Peer.Tgtd | Peer.LibiscsiLibrary)]
    public async Task Mutual_chap_logs_in_only_when_the_target_proves_the_expected_secret()
    {
        var chap = new ChapCredentials("iser-test-user", "secret-for-chap1");
        var mutual = new ChapCredentials("iser-test-target", "target-secret-02");
        await using var tgtd = await TgtdInstance.StartAsync(new TgtdOptions { Chap = chap, MutualChap = mutual });

        await Task.Run(() =>
        {
            using (LibiscsiSession.Connect(tgtd.Portal, tgtd.TargetIqn, TgtdInstance.FirstDiskLun, 512, chap: chap, mutualChap: mutual))
            {
            }
            var refused = Assert.Throws<InvalidOperationException>(() => LibiscsiSession.Connect(tgtd.Portal, tgtd.TargetIqn,
                TgtdInstance.FirstDiskLun, 512, chap: chap, mutualChap: mutual with { Secret = "not-the-target-1" }));
            Assert.Contains("log in", refused.Message, StringComparison.Ordinal);
        });
    }

    [PeerFact(Peer.Tgtd | Peer.LibiscsiLibrary)]
    public async Task Data_written_by_one_session_reads_back_in_another_and_lands_in_the_backing_file()
    {
        await using var tgtd = await TgtdInstance.StartAsync();
        long size = 64L << 20;
        await Task.Run(() => DataIntegrityChecks.WriteThenReadBackFromAnotherSession(tgtd.Portal, tgtd.TargetIqn, TgtdInstance.FirstDiskLun, size, 512));

        // The first extent (64 KiB at LBA 0, seed 100) must be in the file itself.
        byte[] head = new byte[64 * 1024];
        await using (var file = new FileStream(tgtd.BackingFiles[0], FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            await file.ReadExactlyAsync(head);
        BlockPattern.AssertEqual(BlockPattern.Random(head.Length, seed: 100), head, "tgtd's backing file after a libiscsi WRITE");
    }
}
