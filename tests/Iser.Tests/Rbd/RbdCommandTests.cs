using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.Rbd;

/// <summary>WRITE SAME, UNMAP, COMPARE AND WRITE and SYNCHRONIZE CACHE on an rbd LUN (librbd's writesame, discard,
/// compare_and_write and flush), and a snapshot served read-only.</summary>
[Collection(CephCollection.Name)]
[Trait("Category", "Ceph")]
public sealed class RbdCommandTests(CephCluster cluster)
{
    private const int Size = 16 << 20;

    [CephFact]
    public async Task Write_same_fills_the_range_with_the_block_and_leaves_its_neighbours()
    {
        await using var rig = await StartAsync("same");
        var before = Pattern(512 * 3, 1);
        await rig.Lun.WriteAsync(99, before);
        var block = Pattern(512, 2);
        var cdb = new byte[16];
        CdbBuilder.WriteSame16(cdb, 100, 5000);
        var response = await rig.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, block));
        Assert.True(response.IsGood, response.Describe());

        var back = new byte[512 * 5002];
        await rig.Lun.ReadAsync(99, back);
        Assert.True(back.AsSpan(0, 512).SequenceEqual(before.AsSpan(0, 512)), "the block before the range changed");
        for (int b = 1; b <= 5000; b++)
            Assert.True(back.AsSpan(b * 512, 512).SequenceEqual(block), $"block {99 + b} is not the WRITE SAME block");
        Assert.True(back.AsSpan(5001 * 512, 512).SequenceEqual(new byte[512]), "the block after the range changed");
    }

    [CephFact]
    public async Task Unmap_and_write_same_with_unmap_read_back_as_zeros()
    {
        await using var rig = await StartAsync("unmap");
        // Ranges that cover part of a 4 MiB object and cross into the next: partial discards must zero too.
        var data = Pattern(512 * 20000, 3);
        await rig.Lun.WriteAsync(0, data);
        await rig.Lun.UnmapAsync(7, 9000);
        var cdb = new byte[16];
        CdbBuilder.WriteSame16(cdb, 12000, 100, unmap: true);
        var response = await rig.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, new byte[512]));
        Assert.True(response.IsGood, response.Describe());

        var back = new byte[data.Length];
        await rig.Lun.ReadAsync(0, back);
        Assert.True(back.AsSpan(0, 7 * 512).SequenceEqual(data.AsSpan(0, 7 * 512)), "data before the unmapped range changed");
        Assert.True(back.AsSpan(7 * 512, 9000 * 512).IndexOfAnyExcept((byte)0) < 0, "UNMAP left data behind");
        Assert.True(back.AsSpan(9007 * 512, (12000 - 9007) * 512).SequenceEqual(data.AsSpan(9007 * 512, (12000 - 9007) * 512)), "data between the ranges changed");
        Assert.True(back.AsSpan(12000 * 512, 100 * 512).IndexOfAnyExcept((byte)0) < 0, "WRITE SAME with UNMAP left data behind");
        Assert.True(back.AsSpan(12100 * 512).SequenceEqual(data.AsSpan(12100 * 512)), "data after the ranges changed");
    }

    [CephFact]
    public async Task Compare_and_write_of_one_block_writes_on_a_match_and_reports_the_first_difference_otherwise()
    {
        // One 512-byte block: librbd's own compare_and_write (it takes one sector at most).
        await using var rig = await StartAsync("caw");
        var current = Pattern(512, 4);
        await rig.Lun.WriteAsync(300, current);
        var replacement = Pattern(512, 5);
        var cdb = new byte[16];
        CdbBuilder.CompareAndWrite(cdb, 300, 1);
        var response = await rig.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, current.Concat(replacement).ToArray()));
        Assert.True(response.IsGood, response.Describe());
        var back = new byte[512];
        await rig.Lun.ReadAsync(300, back);
        Assert.Equal(replacement, back);

        // Compared with data that differs at byte 300: MISCOMPARE there, and nothing written.
        var wrong = replacement.ToArray();
        wrong[300] ^= 0xFF;
        response = await rig.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, wrong.Concat(current).ToArray()));
        Assert.Equal(ScsiStatus.CheckCondition, response.Status);
        var sense = response.Sense!;
        Assert.Equal(SenseKey.Miscompare, sense.SenseKey);
        Assert.Equal((0x1D, 0x00), (sense.Asc, sense.Ascq)); // MISCOMPARE DURING VERIFY OPERATION
        Assert.Equal(300UL, sense.Information);
        await rig.Lun.ReadAsync(300, back);
        Assert.Equal(replacement, back);
    }

    [CephFact]
    public async Task Compare_and_write_of_several_blocks_writes_on_a_match_and_miscompares_otherwise()
    {
        // Eight blocks: more than librbd's one sector, so the logical unit's read-compare-write under its range lock.
        await using var rig = await StartAsync("caw8");
        var current = Pattern(512 * 8, 9);
        await rig.Lun.WriteAsync(8190, current); // across the first 4 MiB object's end
        var replacement = Pattern(512 * 8, 10);
        var cdb = new byte[16];
        CdbBuilder.CompareAndWrite(cdb, 8190, 8);
        var response = await rig.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, current.Concat(replacement).ToArray()));
        Assert.True(response.IsGood, response.Describe());
        response = await rig.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, current.Concat(current).ToArray()));
        Assert.Equal(SenseKey.Miscompare, response.Sense!.SenseKey);
        var back = new byte[512 * 8];
        await rig.Lun.ReadAsync(8190, back);
        Assert.Equal(replacement, back);
    }

    [CephFact]
    public async Task Synchronize_cache_succeeds_and_the_data_is_in_the_image()
    {
        string image = await cluster.CreateImageAsync("sync", Size);
        var data = Pattern(512 * 8, 6);
        await using (var rig = await RbdTarget.StartAsync($"rbd:rbd/{image}{cluster.SpecOptions}"))
        {
            await rig.Lun.WriteAsync(40, data);
            var cdb = new byte[10];
            CdbBuilder.SynchronizeCache10(cdb);
            var response = await rig.Session.ExecuteAsync(new ScsiCommand(0, cdb));
            Assert.True(response.IsGood, response.Describe());
            // Read by another client (rbd export) while our target still has the image open.
            string exported = Path.Combine(Path.GetTempPath(), $"iser-rbd-sync-{Guid.NewGuid():N}");
            try
            {
                await cluster.RbdAsync("export", $"rbd/{image}", exported);
                var bytes = await File.ReadAllBytesAsync(exported);
                Assert.True(bytes.AsSpan(40 * 512, data.Length).SequenceEqual(data), "the flushed data is not in the image");
            }
            finally { File.Delete(exported); }
        }
    }

    [CephFact]
    public async Task A_snapshot_lun_reads_the_snapshot_and_refuses_writes_as_write_protected()
    {
        string image = await cluster.CreateImageAsync("snap", Size);
        var old = Pattern(512 * 4, 7);
        await using (var rig = await RbdTarget.StartAsync($"rbd:rbd/{image}{cluster.SpecOptions}"))
            await rig.Lun.WriteAsync(0, old);
        await cluster.RbdAsync("snap", "create", $"rbd/{image}@before");
        await using (var rig = await RbdTarget.StartAsync($"rbd:rbd/{image}{cluster.SpecOptions}"))
            await rig.Lun.WriteAsync(0, Pattern(512 * 4, 8));

        await using var snapshot = await RbdTarget.StartAsync($"rbd:rbd/{image}@before{cluster.SpecOptions}");
        var back = new byte[old.Length];
        await snapshot.Lun.ReadAsync(0, back);
        Assert.Equal(old, back);
        var cdb = new byte[10];
        CdbBuilder.Write10(cdb, 0, 1);
        var response = await snapshot.Session.ExecuteAsync(ScsiCommand.Write(0, cdb, new byte[512]));
        Assert.Equal(ScsiStatus.CheckCondition, response.Status);
        Assert.Equal(SenseKey.DataProtect, response.Sense!.SenseKey);
        Assert.Equal(0x27, response.Sense.Asc); // WRITE PROTECTED
    }

    private async Task<RbdTarget> StartAsync(string prefix) =>
        await RbdTarget.StartAsync($"rbd:rbd/{await cluster.CreateImageAsync(prefix, Size)}{cluster.SpecOptions}");

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
