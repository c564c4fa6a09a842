using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget;

public sealed class FileBackingStoreTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("iser-store-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string TempFile(string name = "disk.img") => Path.Combine(_directory, name);

    [Fact]
    public async Task Creates_the_file_at_the_given_size_and_reads_back_writes()
    {
        var path = TempFile();
        await using (var store = FileBackingStore.Open(path, 8L << 20))
        {
            Assert.Equal(8L << 20, new FileInfo(path).Length);
            var data = LuHarness.Pattern(65536, 3);
            await store.WriteAsync(1 << 20, data);
            var back = new byte[data.Length];
            await store.ReadAsync(1 << 20, back);
            Assert.Equal(data, back);
            await store.FlushAsync();
        }
        // Reopened without a size: the file's length is the store size and the data persisted.
        await using var again = FileBackingStore.Open(path);
        Assert.Equal(8L << 20, again.Size);
        var persisted = new byte[65536];
        await again.ReadAsync(1 << 20, persisted);
        Assert.Equal(LuHarness.Pattern(65536, 3), persisted);
    }

    [Fact]
    public async Task Extends_a_smaller_file_and_keeps_its_content()
    {
        var path = TempFile();
        await File.WriteAllBytesAsync(path, Enumerable.Repeat((byte)7, 4096).ToArray());
        await using var store = FileBackingStore.Open(path, 1 << 20);
        Assert.Equal(1 << 20, new FileInfo(path).Length);
        var head = new byte[8192];
        await store.ReadAsync(0, head);
        Assert.All(head.AsSpan(0, 4096).ToArray(), b => Assert.Equal(7, b));
        Assert.All(head.AsSpan(4096).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void A_missing_file_without_a_size_is_a_clear_error()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FileBackingStore.Open(TempFile("absent.img")));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public async Task Discard_reads_back_zeros_and_releases_space()
    {
        var path = TempFile();
        await using var store = FileBackingStore.Open(path, 16L << 20);
        await store.WriteAsync(0, Enumerable.Repeat((byte)0xAB, 8 << 20).ToArray());
        await store.FlushAsync();
        long before = AllocatedBytes(path);

        await store.DiscardAsync(1 << 20, 4 << 20);
        var back = new byte[8 << 20];
        await store.ReadAsync(0, back);
        Assert.All(back.AsSpan(0, 1 << 20).ToArray(), b => Assert.Equal(0xAB, b));
        Assert.DoesNotContain(back.AsSpan(1 << 20, 4 << 20).ToArray(), b => b != 0);
        Assert.All(back.AsSpan(5 << 20).ToArray(), b => Assert.Equal(0xAB, b));
        if (store.SupportsDiscard) Assert.True(AllocatedBytes(path) <= before - (4 << 20), "hole punching should release the range");
    }

    [Fact]
    public async Task Direct_io_round_trips_with_unaligned_caller_buffers()
    {
        var path = TempFile();
        await using var store = FileBackingStore.Open(path, 4L << 20, directIo: true);
        Assert.True(store.DirectIo);
        Assert.NotEqual(0, Convert.ToInt32(FdFlags(path), 8) & 0x4000); // O_DIRECT as the kernel sees the descriptor

        // A managed array sliced at an odd offset is never 512-aligned: the store must bounce it.
        var backing = new byte[2 * 65536 + 1];
        var data = LuHarness.Pattern(65536, 4);
        data.CopyTo(backing, 1);
        await store.WriteAsync(512 * 3, backing.AsMemory(1, 65536));
        var readBacking = new byte[65536 + 1];
        await store.ReadAsync(512 * 3, readBacking.AsMemory(1, 65536));
        Assert.Equal(data, readBacking.AsSpan(1).ToArray());

        // Larger than one bounce buffer.
        var big = LuHarness.Pattern(3 << 20, 5);
        var bigBacking = new byte[big.Length + 3];
        big.CopyTo(bigBacking, 3);
        await store.WriteAsync(0, bigBacking.AsMemory(3, big.Length));
        var bigBack = new byte[big.Length + 7];
        await store.ReadAsync(0, bigBack.AsMemory(7, big.Length));
        Assert.Equal(big, bigBack.AsSpan(7).ToArray());
    }

    [Fact]
    public async Task Direct_io_refuses_requests_not_in_whole_sectors()
    {
        await using var store = FileBackingStore.Open(TempFile(), 1 << 20, directIo: true);
        var e = await Assert.ThrowsAsync<ArgumentException>(async () => await store.WriteAsync(100, new byte[512]));
        Assert.Contains("multiples of 512", e.Message);
    }

    private static long AllocatedBytes(string path)
    {
        // st_blocks via stat(1): 512-byte units actually allocated.
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%b", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(output.Trim()) * 512;
    }

    private static string FdFlags(string path)
    {
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == path)
                    return File.ReadAllLines($"/proc/self/fdinfo/{Path.GetFileName(fd)}").First(l => l.StartsWith("flags:")).Split('\t').Last();
            }
            catch (IOException) { }
        }
        return "";
    }
    [Fact]
    public async Task Growing_extends_the_file_keeps_the_data_and_reads_zeros_beyond()
    {
        var path = TempFile();
        await using var store = FileBackingStore.Open(path, 1L << 20);
        Assert.True(store.CanGrow);
        var data = LuHarness.Pattern(65536, 5);
        await store.WriteAsync((1L << 20) - 65536, data);

        await store.GrowAsync(3L << 20);
        Assert.Equal(3L << 20, store.Size);
        Assert.Equal(3L << 20, new FileInfo(path).Length);
        var back = new byte[data.Length];
        await store.ReadAsync((1L << 20) - 65536, back);
        Assert.Equal(data, back);
        var fresh = Enumerable.Repeat((byte)0xEE, 65536).ToArray();
        await store.ReadAsync(2L << 20, fresh);
        Assert.All(fresh, b => Assert.Equal(0, b));
        await store.WriteAsync((3L << 20) - 65536, data);
        await store.ReadAsync((3L << 20) - 65536, back);
        Assert.Equal(data, back);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.GrowAsync(1L << 20).AsTask());
    }
}
