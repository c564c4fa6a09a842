using Iser.Core.Iscsi.Target;
using Iser.Storage.Rbd;
using Iser.Storage.Rbd.Native;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Rbd;

/// <summary>What the user reads when an rbd LUN cannot be served: a missing library, a stopped cluster, a missing
/// image, a bad spec. No cluster needed (so not Category=Ceph): the stopped-cluster case needs librbd only.</summary>
public sealed class RbdErrorTests
{
    [Fact]
    public void A_missing_librbd_is_a_sentence_naming_the_library_and_the_package()
    {
        string? reason = CephLibraries.Probe(CephLibraries.Rados, "librbd-missing.so.1");
        Assert.NotNull(reason);
        Assert.Contains("librbd-missing.so.1", reason);
        Assert.Contains("apt-get install librbd1", reason);
    }

    [Theory]
    [InlineData("rbd:image-without-pool", "POOL/IMAGE")]
    [InlineData("rbd:pool/image@", "empty image or snapshot name")]
    [InlineData("rbd:pool/image:colour=blue", "option 'colour'")]
    [InlineData("rbd:pool/image:timeout=0", "seconds from 1 to 3600")]
    public void A_bad_spec_is_an_error_in_words_naming_the_spec(string spec, string words)
    {
        var e = Assert.Throws<FormatException>(() => LunSpec.Open(spec, new TargetNode("iqn.2026-12.org.iser.test:bad"), 0, 512, NullLogger.Instance));
        Assert.Contains(spec, e.Message);
        Assert.Contains(words, e.Message);
    }

    [LibrbdFact]
    public void A_stopped_cluster_is_an_error_in_words_within_the_timeout()
    {
        // A cluster nobody runs: the monitor's port has no listener.
        string dir = Directory.CreateTempSubdirectory("iser-rbd-stopped-").FullName;
        try
        {
            string conf = Path.Combine(dir, "ceph.conf");
            File.WriteAllText(conf, "[global]\nmon host = [v1:127.0.0.1:9]\nauth client required = none\nlog file = /dev/null\n");
            var started = DateTime.UtcNow;
            var e = Assert.Throws<FormatException>(() => LunSpec.Open($"rbd:rbd/any:conf={conf}:timeout=3",
                new TargetNode("iqn.2026-12.org.iser.test:stopped"), 0, 512, NullLogger.Instance));
            Assert.Contains("Connecting to the Ceph cluster", e.Message);
            Assert.Contains(conf, e.Message);
            Assert.IsType<CephException>(e.InnerException);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30), $"took {DateTime.UtcNow - started}");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

/// <summary>Errors that need the running cluster.</summary>
[Collection(CephCollection.Name)]
[Trait("Category", "Ceph")]
public sealed class RbdClusterErrorTests(CephCluster cluster)
{
    [CephFact]
    public void A_missing_image_is_an_error_naming_it_and_what_to_check()
    {
        var e = Assert.Throws<FormatException>(() => LunSpec.Open($"rbd:rbd/no-such-image{cluster.SpecOptions}",
            new TargetNode("iqn.2026-12.org.iser.test:missing"), 0, 512, NullLogger.Instance));
        Assert.Contains("Opening the image 'rbd/no-such-image' failed", e.Message);
        Assert.Contains("check the pool, image and snapshot names", e.Message);
    }

    [CephFact]
    public void A_missing_pool_is_an_error_naming_it()
    {
        var e = Assert.Throws<FormatException>(() => LunSpec.Open($"rbd:no-such-pool/image{cluster.SpecOptions}",
            new TargetNode("iqn.2026-12.org.iser.test:nopool"), 0, 512, NullLogger.Instance));
        Assert.Contains("Opening the pool 'no-such-pool' failed", e.Message);
    }
}
