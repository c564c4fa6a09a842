using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget;

public sealed class BackingStoreSpecTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("iser-spec-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("ram:1G", 1L << 30)]
    [InlineData("ram:512M", 512L << 20)]
    [InlineData("ram:4096", 4096L)]
    [InlineData("RAM:2T", 2L << 40)]
    [InlineData("ram:64k", 64L << 10)]
    [InlineData("ram:1GiB", 1L << 30)]
    public async Task Ram_sizes_use_powers_of_1024(string spec, long size)
    {
        await using var store = BackingStoreSpec.Parse(spec);
        Assert.IsType<RamBackingStore>(store);
        Assert.Equal(size, store.Size);
    }

    [Fact]
    public async Task Null_store_reads_zeros_and_drops_writes()
    {
        await using var store = BackingStoreSpec.Parse("null:10G");
        Assert.IsType<NullBackingStore>(store);
        Assert.Equal(10L << 30, store.Size);
        await store.WriteAsync(9L << 30, new byte[] { 1, 2, 3 });
        var back = new byte[] { 9, 9, 9 };
        await store.ReadAsync(9L << 30, back);
        Assert.Equal(new byte[3], back);
    }

    [Fact]
    public async Task File_spec_with_size_creates_the_file_and_a_path_with_colons_survives()
    {
        var path = Path.Combine(_directory, "a:b.img");
        await using (var store = BackingStoreSpec.Parse($"file:{path}:2M"))
        {
            Assert.Equal(2L << 20, store.Size);
            Assert.Equal(path, Assert.IsType<FileBackingStore>(store).Path);
        }
        await using var existing = BackingStoreSpec.Parse($"file:{path}");
        Assert.Equal(2L << 20, existing.Size);
        await using var direct = BackingStoreSpec.Parse($"file:{path}:2M:direct");
        Assert.True(Assert.IsType<FileBackingStore>(direct).DirectIo);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("ram", "no kind")]
    [InlineData("tape:1G", "kind 'tape' is unknown")]
    [InlineData("ram:lots", "'lots'")]
    [InlineData("ram:0", "must be positive")]
    [InlineData("ram:1X", "'1X'")]
    [InlineData("null:", "''")]
    public void Bad_specs_are_explained(string spec, string fragment)
    {
        var e = Assert.Throws<FormatException>(() => BackingStoreSpec.Parse(spec));
        Assert.Contains(fragment, e.Message);
        Assert.EndsWith(".", e.Message.TrimEnd(')').TrimEnd());
    }
}
