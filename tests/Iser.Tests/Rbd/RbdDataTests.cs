namespace Iser.Tests.Rbd;

/// <summary>Data through our target on an rbd LUN is the image's data, as Ceph's own tools see it.</summary>
[Collection(CephCollection.Name)]
[Trait("Category", "Ceph")]
public sealed class RbdDataTests(CephCluster cluster)
{
    private const int Size = 16 << 20;

    [CephFact]
    public async Task Sixteen_MiB_written_through_the_target_equal_rbd_export_of_the_image()
    {
        string image = await cluster.CreateImageAsync("written", Size);
        var data = new byte[Size];
        new Random(18).NextBytes(data);
        await using (var rig = await RbdTarget.StartAsync($"rbd:rbd/{image}{cluster.SpecOptions}"))
        {
            Assert.Equal(Size / 512, rig.Lun.BlockCount);
            // 1 MiB writes, four at a time: several requests in flight on the image at once.
            const int chunk = 1 << 20;
            for (int at = 0; at < Size; at += 4 * chunk)
                await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
                    rig.Lun.WriteAsync((at + i * chunk) / 512, data.AsMemory(at + i * chunk, chunk)).AsTask()));
            await rig.Lun.FlushAsync();
        }
        string exported = Path.Combine(Path.GetTempPath(), $"iser-rbd-export-{Guid.NewGuid():N}");
        try
        {
            await cluster.RbdAsync("export", $"rbd/{image}", exported);
            var back = await File.ReadAllBytesAsync(exported);
            Assert.Equal(Size, back.Length);
            Assert.True(data.AsSpan().SequenceEqual(back), "rbd export differs from the 16 MiB written through the target.");
        }
        finally { File.Delete(exported); }
    }

    [CephFact]
    public async Task An_image_written_with_rbd_import_reads_back_equal_through_the_target()
    {
        var data = new byte[Size];
        new Random(19).NextBytes(data);
        string source = Path.Combine(Path.GetTempPath(), $"iser-rbd-import-{Guid.NewGuid():N}");
        string image = $"imported-{Guid.NewGuid():N}";
        try
        {
            await File.WriteAllBytesAsync(source, data);
            await cluster.RbdAsync("import", source, $"rbd/{image}");
        }
        finally { File.Delete(source); }

        await using var rig = await RbdTarget.StartAsync($"rbd:rbd/{image}{cluster.SpecOptions}");
        Assert.Equal(Size / 512, rig.Lun.BlockCount);
        var back = new byte[Size];
        const int chunk = 1 << 20;
        await Task.WhenAll(Enumerable.Range(0, Size / chunk).Select(i =>
            rig.Lun.ReadAsync(i * chunk / 512, back.AsMemory(i * chunk, chunk)).AsTask()));
        Assert.True(data.AsSpan().SequenceEqual(back), "The image read through the target differs from what rbd import wrote.");
    }
}
