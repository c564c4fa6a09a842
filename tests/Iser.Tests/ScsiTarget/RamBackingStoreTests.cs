using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget;

public class RamBackingStoreTests
{
    [Fact]
    public async Task Unwritten_space_reads_zeros_and_costs_no_memory()
    {
        await using var store = new RamBackingStore(1L << 30);
        var buffer = Enumerable.Repeat((byte)0xEE, 8192).ToArray();
        await store.ReadAsync(123 * 4096, buffer);
        Assert.All(buffer, b => Assert.Equal(0, b));
        Assert.Equal(0, store.AllocatedBytes);
    }

    [Fact]
    public async Task Data_written_across_a_chunk_boundary_reads_back()
    {
        await using var store = new RamBackingStore(16L << 20, chunkSize: 1 << 20);
        var data = LuHarness.Pattern(300_000, 1);
        long offset = (1 << 20) - 100_000;
        await store.WriteAsync(offset, data);
        var back = new byte[data.Length];
        await store.ReadAsync(offset, back);
        Assert.Equal(data, back);
        Assert.Equal(2L << 20, store.AllocatedBytes);
    }

    [Fact]
    public async Task Offsets_beyond_two_gibibytes_work_sparsely()
    {
        await using var store = new RamBackingStore(1L << 40); // 1 TiB, nothing allocated
        var data = LuHarness.Pattern(4096, 2);
        long offset = (5L << 32) + 12288;
        await store.WriteAsync(offset, data);
        var back = new byte[4096];
        await store.ReadAsync(offset, back);
        Assert.Equal(data, back);
        Assert.Equal(RamBackingStore.DefaultChunkSize, store.AllocatedBytes);
    }

    [Fact]
    public async Task Discard_zeros_partial_chunks_and_frees_whole_ones()
    {
        await using var store = new RamBackingStore(8L << 20, chunkSize: 1 << 20);
        var data = Enumerable.Repeat((byte)0x5A, 3 << 20).ToArray();
        await store.WriteAsync(0, data);
        Assert.Equal(3L << 20, store.AllocatedBytes);

        await store.DiscardAsync(512 * 1024, 2 << 20); // half of chunk 0, all of chunk 1, half of chunk 2
        Assert.Equal(2L << 20, store.AllocatedBytes);

        var back = new byte[3 << 20];
        await store.ReadAsync(0, back);
        for (int i = 0; i < back.Length; i++)
        {
            byte expected = i >= 512 * 1024 && i < (512 * 1024) + (2 << 20) ? (byte)0 : (byte)0x5A;
            if (back[i] != expected) Assert.Fail($"byte {i} is {back[i]:X2}, expected {expected:X2}");
        }
    }

    [Fact]
    public async Task Concurrent_writers_on_disjoint_ranges_of_one_chunk_do_not_lose_data()
    {
        await using var store = new RamBackingStore(4L << 20);
        const int writers = 64;
        const int slice = 4096;
        await Parallel.ForAsync(0, writers, async (i, ct) =>
            await store.WriteAsync((long)i * slice, Enumerable.Repeat((byte)(i + 1), slice).ToArray(), ct));
        var back = new byte[writers * slice];
        await store.ReadAsync(0, back);
        for (int i = 0; i < writers; i++)
            Assert.All(back.AsSpan(i * slice, slice).ToArray(), b => Assert.Equal((byte)(i + 1), b));
    }

    [Fact]
    public async Task Out_of_range_requests_are_refused()
    {
        await using var store = new RamBackingStore(1 << 20);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.WriteAsync((1 << 20) - 10, new byte[20]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReadAsync(-1, new byte[1]));
    }
}
