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
    [Fact]
    public async Task Growing_keeps_the_data_reads_zeros_in_the_new_space_and_refuses_to_shrink()
    {
        await using var store = new RamBackingStore(3 << 19, chunkSize: 1 << 20); // 1.5 MiB: the last chunk half used
        Assert.True(store.CanGrow);
        var data = LuHarness.Pattern(1 << 20, 3);
        await store.WriteAsync(1 << 19, data); // up to the old end
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.WriteAsync(3 << 19, new byte[512]).AsTask());

        await store.GrowAsync(4L << 20);
        Assert.Equal(4L << 20, store.Size);
        var back = new byte[data.Length];
        await store.ReadAsync(1 << 19, back);
        Assert.Equal(data, back);
        var fresh = Enumerable.Repeat((byte)0xEE, (int)(4L << 20) - (3 << 19)).ToArray();
        await store.ReadAsync(3 << 19, fresh);
        Assert.All(fresh, b => Assert.Equal(0, b));

        var tail = LuHarness.Pattern(8192, 4);
        await store.WriteAsync((4L << 20) - 8192, tail);
        var tailBack = new byte[8192];
        await store.ReadAsync((4L << 20) - 8192, tailBack);
        Assert.Equal(tail, tailBack);

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.GrowAsync(1L << 20).AsTask());
        Assert.Contains("never shrinks", e.Message);
    }

    [Fact]
    public async Task Writes_racing_a_growth_all_land()
    {
        // Writers allocate chunks while the table is replaced: every chunk they wrote must be in the newest table.
        await using var store = new RamBackingStore(8L << 20, chunkSize: 4096);
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var block = new byte[4096];
            for (int i = w; i < 2048; i += 4)
            {
                block.AsSpan().Fill((byte)(i % 251 + 1));
                await store.WriteAsync(i * 4096L, block);
            }
        })).ToArray();
        for (int k = 1; k <= 16; k++) await store.GrowAsync((8L << 20) + k * (1L << 20));
        await Task.WhenAll(writers);
        var back = new byte[4096];
        for (int i = 0; i < 2048; i++)
        {
            await store.ReadAsync(i * 4096L, back);
            Assert.True(back.All(b => b == (byte)(i % 251 + 1)), $"block {i} lost its write during the growth");
        }
    }
}
