namespace Iser.Tests.Peers;

/// <summary>libiscsi's everyday tools (iscsi-inq, iscsi-ls, iscsi-readcapacity16) against OUR target.</summary>
[Trait("Category", "Peers")]
public sealed class LinuxToolsTests
{
    private static readonly OurTargetOptions TwoLuns = new() { Luns = new[] { "ram:64M", "ram:16M" } };
    private static readonly long[] TwoLunSizes = { 64L << 20, 16L << 20 };

    [PeerFact(Peer.LibiscsiTools)]
    public async Task Inquiry_reports_a_connected_disk_with_well_formed_identity_strings()
    {
        await using var target = await OurTargetProcess.StartAsync(TwoLuns);
        var inquiry = await new LibiscsiTools().InquiryAsync(target.LunUrl());
        StandardInquiryChecks.AssertDiskIdentity(inquiry);
        await target.StopAndAssertCleanExitAsync();
    }

    [PeerFact(Peer.LibiscsiTools)]
    public async Task SendTargets_and_ReportLuns_list_our_target_and_every_configured_lun()
    {
        await using var target = await OurTargetProcess.StartAsync(TwoLuns);
        var listing = await new LibiscsiTools().ListAsync(target.PortalUrl(), showLuns: true);

        Assert.True(listing.Succeeded, $"iscsi-ls failed: {listing.Process}");
        var listed = Assert.Single(listing.Targets);
        Assert.Equal(target.TargetIqn, listed.Iqn);
        Assert.StartsWith(target.Portal + ",", listed.Portal, StringComparison.Ordinal);
        Assert.Equal(target.Luns, listed.Luns.Select(l => l.Lun).ToArray());
        Assert.All(listed.Luns, l => Assert.Equal("DIRECT_ACCESS", l.Type));
        await target.StopAndAssertCleanExitAsync();
    }

    [PeerFact(Peer.LibiscsiTools)]
    public async Task ReadCapacity16_returns_the_configured_size_of_each_lun()
    {
        await using var target = await OurTargetProcess.StartAsync(TwoLuns);
        var tools = new LibiscsiTools();
        for (int i = 0; i < TwoLunSizes.Length; i++)
        {
            var capacity = await tools.ReadCapacity16Async(target.LunUrl(target.Luns[i]));
            Assert.True(capacity.Succeeded, $"iscsi-readcapacity16 failed: {capacity.Process}");
            Assert.Equal(TwoLunSizes[i], capacity.CapacityInBytes);
            Assert.Equal(TwoLunSizes[i], capacity.TotalSize);
            Assert.Contains(capacity.BlockLength, new int?[] { 512, 4096 });
        }
        await target.StopAndAssertCleanExitAsync();
    }

    [PeerFact(Peer.LibiscsiTools)]
    public async Task Chap_admits_the_right_secret_and_refuses_a_wrong_or_missing_one()
    {
        var chap = new ChapCredentials("iser-test-user", "secret-for-chap1");
        await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions { Chap = chap });
        var tools = new LibiscsiTools();

        var admitted = await tools.InquiryAsync(target.LunUrl(chap: chap));
        Assert.True(admitted.Succeeded, $"Login with the right CHAP secret failed: {admitted.Process}\nTarget:\n{target.Transcript}");

        var wrongSecret = await tools.InquiryAsync(target.LunUrl(chap: chap with { Secret = "wrong-secret-123" }));
        Assert.NotEqual(0, wrongSecret.Process.ExitCode);

        var noCredentials = await tools.InquiryAsync(target.LunUrl());
        Assert.NotEqual(0, noCredentials.Process.ExitCode);

        await target.StopAndAssertCleanExitAsync();
    }
}
