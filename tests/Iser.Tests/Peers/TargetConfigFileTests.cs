using System.Text.Json;
using Xunit.Abstractions;

namespace Iser.Tests.Peers;

/// <summary>`iser target --config FILE`: targets, LUN sizes, ACLs and CHAP from JSON, checked with libiscsi's tools.</summary>
[Trait("Category", "Peers")]
public sealed class TargetConfigFileTests
{
    private const string Open = "iqn.2026-11.org.example:cfg-open";
    private const string Restricted = "iqn.2026-11.org.example:cfg-acl";
    private const string Protected = "iqn.2026-11.org.example:cfg-chap";
    private static readonly ChapCredentials Alice = new("alice", "alice-secret-12");
    private readonly ITestOutputHelper _output;

    public TargetConfigFileTests(ITestOutputHelper output) => _output = output;

    [PeerFact(Peer.LibiscsiTools)]
    public async Task Config_file_defines_targets_luns_acls_and_chap()
    {
        var directory = Directory.CreateTempSubdirectory("iser-config-");
        try
        {
            string path = Path.Combine(directory.FullName, "target.json");
            await File.WriteAllTextAsync(path, JsonSerializer.Serialize(new
            {
                targets = new object[]
                {
                    new { iqn = Open, luns = new[] { "ram:8M", "ram:4M" } },
                    new { iqn = Restricted, luns = new[] { "ram:8M" }, allowedInitiators = new[] { "iqn.2026-11.org.example:someone-else" } },
                    new { iqn = Protected, luns = new[] { "ram:8M" }, chap = new { user = Alice.User, secret = Alice.Secret } },
                },
                queueDepth = 64,
            }));
            await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions { ConfigFile = path });
            var tools = new LibiscsiTools();

            var listing = await tools.ListAsync(target.PortalUrl(), showLuns: false);
            _output.WriteLine(listing.Process.Transcript);
            Assert.True(listing.Succeeded, listing.Process.Transcript);
            Assert.Contains(listing.Targets, t => t.Iqn == Open);
            Assert.Contains(listing.Targets, t => t.Iqn == Protected);
            Assert.DoesNotContain(listing.Targets, t => t.Iqn == Restricted); // hidden from initiators the ACL refuses

            var second = await tools.ReadCapacity16Async(LibiscsiUrl.Lun(target.Portal, Open, 1));
            Assert.True(second.Succeeded, second.Process.Transcript);
            Assert.Equal(4L << 20, second.CapacityInBytes);

            var refused = await tools.InquiryAsync(LibiscsiUrl.Lun(target.Portal, Restricted, 0));
            Assert.False(refused.Succeeded, "an initiator outside the ACL logged in");

            var withoutChap = await tools.InquiryAsync(LibiscsiUrl.Lun(target.Portal, Protected, 0));
            Assert.False(withoutChap.Succeeded, "logged in to a CHAP target without credentials");
            var wrongChap = await tools.InquiryAsync(LibiscsiUrl.Lun(target.Portal, Protected, 0, Alice with { Secret = "not-the-secret" }));
            Assert.False(wrongChap.Succeeded, "logged in with a wrong CHAP secret");
            var withChap = await tools.InquiryAsync(LibiscsiUrl.Lun(target.Portal, Protected, 0, Alice));
            Assert.True(withChap.Succeeded, withChap.Process.Transcript);

            await target.StopAndAssertCleanExitAsync();
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
