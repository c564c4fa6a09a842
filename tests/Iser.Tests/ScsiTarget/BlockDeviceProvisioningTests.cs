using Iser.Core.Scsi.Target;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>UNMAP, WRITE SAME and COMPARE AND WRITE.</summary>
public class BlockDeviceProvisioningTests
{
    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Unmapped_blocks_read_back_as_zeros(int blockSize)
    {
        await using var lu = RamLu(64L << 20, blockSize);
        var data = Pattern(64 * blockSize, 20);
        await WriteBlocks(lu, 0, data);
        var list = Cdbs.UnmapList((4, 8), (30, 1), (40, 0));
        AssertGood(await Out(lu, Cdbs.Unmap((ushort)list.Length), list));
        var back = await ReadBlocks(lu, 0, 64);
        for (int block = 0; block < 64; block++)
        {
            bool unmapped = block is >= 4 and < 12 or 30;
            var expected = unmapped ? new byte[blockSize] : data.AsSpan(block * blockSize, blockSize).ToArray();
            Assert.True(expected.AsSpan().SequenceEqual(back.AsSpan(block * blockSize, blockSize)), $"block {block}");
        }
    }

    [Fact]
    public async Task Unmap_validates_the_whole_list_before_unmapping_anything()
    {
        await using var lu = RamLu(1 << 20, options: new Iser.Core.Scsi.Target.BlockDeviceOptions { Identity = "u", MaxUnmapDescriptors = 4, MaxUnmapBlocks = 100 });
        var data = Pattern(16 * 512, 21);
        await WriteBlocks(lu, 0, data);

        // Second descriptor runs past the end: LBA OUT OF RANGE, and the first was not applied.
        var list = Cdbs.UnmapList((0, 8), ((ulong)lu.BlockCount - 1, 2));
        AssertLbaOutOfRange(await Out(lu, Cdbs.Unmap((ushort)list.Length), list));
        Assert.Equal(data, await ReadBlocks(lu, 0, 16));

        var tooMany = Cdbs.UnmapList((0, 1), (1, 1), (2, 1), (3, 1), (4, 1));
        AssertSense(await Out(lu, Cdbs.Unmap((ushort)tooMany.Length), tooMany), 0x05, 0x26, 0x00);
        var tooLong = Cdbs.UnmapList((0, 60), (100, 41));
        AssertSense(await Out(lu, Cdbs.Unmap((ushort)tooLong.Length), tooLong), 0x05, 0x26, 0x00);
        Assert.Equal(data, await ReadBlocks(lu, 0, 16));

        // Parameter list length 1..7 is a length error; 0 is a no-op; an empty list is fine.
        var shortTask = new FakeScsiTask(Cdbs.Unmap(6), dataOut: new byte[6]);
        AssertSense(await lu.ExecuteAsync(shortTask, default), 0x05, 0x1A, 0x00);
        Assert.Equal(0, shortTask.DataOutRequests);
        AssertGood(await NoData(lu, Cdbs.Unmap(0)));
        var empty = Cdbs.UnmapList();
        AssertGood(await Out(lu, Cdbs.Unmap((ushort)empty.Length), empty));
        // Zero blocks at the capacity is in range.
        var atEnd = Cdbs.UnmapList(((ulong)lu.BlockCount, 0));
        AssertGood(await Out(lu, Cdbs.Unmap((ushort)atEnd.Length), atEnd));
        // ANCHOR is not supported.
        AssertInvalidFieldInCdb(await Out(lu, Cdbs.Unmap((ushort)atEnd.Length, flags: 0x01), atEnd), 1);
    }

    [Fact]
    public async Task Unmap_is_not_offered_without_thin_provisioning()
    {
        await using var lu = RamLu(options: new BlockDeviceOptions { ThinProvisioning = false, Identity = "thick" });
        var list = Cdbs.UnmapList((0, 1));
        AssertSense(await Out(lu, Cdbs.Unmap((ushort)list.Length), list), 0x05, 0x20, 0x00);
        AssertInvalidFieldInCdb(await Out(lu, Cdbs.WriteSame16(0, 1, 0x08), new byte[512]), 1);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Write_same_fills_the_range_with_the_block(int blockSize)
    {
        await using var lu = RamLu(64L << 20, blockSize);
        var block = Pattern(blockSize, 22);
        AssertGood(await Out(lu, Cdbs.WriteSame10(10, 300), block));
        AssertGood(await Out(lu, Cdbs.WriteSame16(1000, 3), block.Reverse().ToArray()));
        var back = await ReadBlocks(lu, 9, 302);
        Assert.Equal(new byte[blockSize], back[..blockSize]);
        for (int i = 1; i <= 300; i++) Assert.True(block.AsSpan().SequenceEqual(back.AsSpan(i * blockSize, blockSize)), $"block {9 + i}");
        Assert.Equal(new byte[blockSize], back[(301 * blockSize)..]);
        Assert.Equal(block.Reverse().ToArray(), (await ReadBlocks(lu, 1002, 1)));
    }

    [Fact]
    public async Task Write_same_with_unmap_deallocates_and_reads_zeros()
    {
        await using var lu = RamLu(64L << 20);
        var ram = (Iser.Core.Scsi.Target.Stores.RamBackingStore)lu.Store;
        await WriteBlocks(lu, 0, Enumerable.Repeat((byte)0xFF, 4 << 20).ToArray());
        Assert.Equal(4L << 20, ram.AllocatedBytes);
        AssertGood(await Out(lu, Cdbs.WriteSame16(0, 4096, 0x08), new byte[512]));   // zeros + UNMAP
        AssertGood(await Out(lu, Cdbs.WriteSame10(4096, 4096, 0x08), new byte[512]));
        Assert.Equal(0, ram.AllocatedBytes);
        Assert.DoesNotContain(await ReadBlocks(lu, 0, 8192), b => b != 0);

        // NDOB: no data transferred at all.
        await WriteBlocks(lu, 100, Enumerable.Repeat((byte)1, 8 * 512).ToArray());
        var ndob = new FakeScsiTask(Cdbs.WriteSame16(100, 8, 0x09));
        AssertGood(await lu.ExecuteAsync(ndob, default));
        Assert.Equal(0, ndob.DataOutRequests);
        Assert.DoesNotContain(await ReadBlocks(lu, 100, 8), b => b != 0);

        // UNMAP deallocates whatever the data block holds (LIO/tgt behaviour, expected by libiscsi).
        await WriteBlocks(lu, 1, Enumerable.Repeat((byte)0xFF, 7 * 512).ToArray());
        var block = Enumerable.Repeat((byte)0xA6, 512).ToArray();
        AssertGood(await Out(lu, Cdbs.WriteSame10(1, 7, 0x08), block));
        Assert.DoesNotContain(await ReadBlocks(lu, 1, 7), b => b != 0);
    }

    [Fact]
    public async Task Write_same_of_zero_blocks_runs_to_the_end_within_the_limit()
    {
        await using var lu = RamLu(1 << 20); // 2048 blocks, limit 65535
        var block = Enumerable.Repeat((byte)0x33, 512).ToArray();
        AssertGood(await Out(lu, Cdbs.WriteSame16((ulong)lu.BlockCount - 5, 0), block));
        Assert.All(await ReadBlocks(lu, (ulong)lu.BlockCount - 5, 5), b => Assert.Equal(0x33, b));
        Assert.Equal(new byte[512], await ReadBlocks(lu, (ulong)lu.BlockCount - 6, 1));

        await using var limited = RamLu(1 << 20, options: new BlockDeviceOptions { Identity = "ws", MaxWriteSameBlocks = 1000 });
        AssertInvalidFieldInCdb(await Out(limited, Cdbs.WriteSame10(0, 0), block), 7);         // 2048 to the end > 1000
        AssertInvalidFieldInCdb(await Out(limited, Cdbs.WriteSame16(0, 1001), block), 10);
        AssertGood(await Out(limited, Cdbs.WriteSame16((ulong)limited.BlockCount - 1000, 0), block));
        AssertLbaOutOfRange(await Out(limited, Cdbs.WriteSame16((ulong)limited.BlockCount + 1, 0), block));
        AssertLbaOutOfRange(await Out(limited, Cdbs.WriteSame16(ulong.MaxValue, 1), block));
        AssertLbaOutOfRange(await Out(limited, Cdbs.WriteSame10((uint)limited.BlockCount - 1, 2), block));
    }

    [Fact]
    public async Task Write_same_refuses_bad_fields_and_data_sizes_before_fetching_data()
    {
        await using var lu = RamLu();
        foreach (var (cdb, size, field) in new (byte[], int, int)[]
        {
            (Cdbs.WriteSame16(0, 1, 0x08), 256, 10),     // half a block of data
            (Cdbs.WriteSame10(0, 1, 0x08), 1024, 7),     // two blocks of data
            (Cdbs.WriteSame16(0, 1, 0x10), 512, 1),      // ANCHOR without UNMAP
            (Cdbs.WriteSame16(0, 1, 0x18), 512, 1),      // ANCHOR: not supported
            (Cdbs.WriteSame10(0, 1, 0x20), 512, 1),      // WRPROTECT
            (Cdbs.WriteSame10(0, 1, 0x02), 512, 1),      // LBDATA
            (Cdbs.WriteSame10(0, 1, 0x04), 512, 1),      // PBDATA
        })
        {
            var task = new FakeScsiTask(cdb, dataOut: new byte[size]);
            AssertInvalidFieldInCdb(await lu.ExecuteAsync(task, default), field);
            Assert.Equal(0, task.DataOutRequests);
        }
    }

    [Theory]
    [InlineData(512, 1)]
    [InlineData(512, 255)]
    [InlineData(4096, 7)]
    public async Task Compare_and_write_replaces_matching_data(int blockSize, int blocks)
    {
        await using var lu = RamLu(64L << 20, blockSize);
        var old = Pattern(blocks * blockSize, 23);
        var replacement = Pattern(blocks * blockSize, 24);
        await WriteBlocks(lu, 77, old);
        var result = await Out(lu, Cdbs.CompareAndWrite(77, (byte)blocks), old.Concat(replacement).ToArray());
        AssertGood(result);
        Assert.Equal(2 * blocks * blockSize, result.DataOutLength);
        Assert.Equal(replacement, await ReadBlocks(lu, 77, (uint)blocks));
    }

    [Fact]
    public async Task Compare_and_write_miscompare_reports_the_offset_and_leaves_data_unchanged()
    {
        await using var lu = RamLu();
        var old = Enumerable.Repeat((byte)'A', 4 * 512).ToArray();
        await WriteBlocks(lu, 5, old);
        var verify = old.ToArray();
        verify[2 * 512 + 485] = (byte)'C';
        var write = Enumerable.Repeat((byte)'B', 4 * 512).ToArray();
        var sense = AssertSense(await Out(lu, Cdbs.CompareAndWrite(5, 4), verify.Concat(write).ToArray()), 0x0E, 0x1D, 0x00);
        Assert.Equal((uint)(2 * 512 + 485), Information(sense));
        Assert.Equal(old, await ReadBlocks(lu, 5, 4));

        // Unwritten blocks compare as zeros.
        var zeros = new byte[512];
        AssertGood(await Out(lu, Cdbs.CompareAndWrite(1000, 1), zeros.Concat(write[..512]).ToArray()));
    }

    [Fact]
    public async Task Compare_and_write_checks_its_fields_before_taking_data()
    {
        await using var lu = RamLu(1 << 20, options: new BlockDeviceOptions { Identity = "caw", MaxCompareAndWriteBlocks = 8 });
        foreach (var (cdb, size, check) in new (byte[], int, Action<Iser.Core.Scsi.Target.ScsiCommandResult>)[]
        {
            (Cdbs.CompareAndWrite(0, 9), 9 * 1024, r => AssertInvalidFieldInCdb(r, 13)),                 // > maximum
            (Cdbs.CompareAndWrite(0, 1), 4 * 512, r => AssertInvalidFieldInCdb(r, 13)),                  // data size is not 2 x NLB
            (Cdbs.CompareAndWrite(0, 3), 4 * 512, r => AssertInvalidFieldInCdb(r, 13)),
            (Cdbs.CompareAndWrite((ulong)lu.BlockCount - 1, 2), 4 * 512, AssertLbaOutOfRange),
            (Cdbs.CompareAndWrite(0, 1, 0x40), 1024, r => AssertInvalidFieldInCdb(r, 1)),                // WRPROTECT
        })
        {
            var task = new FakeScsiTask(cdb, dataOut: new byte[size]);
            check(await lu.ExecuteAsync(task, default));
            Assert.Equal(0, task.DataOutRequests);
        }
        AssertGood(await NoData(lu, Cdbs.CompareAndWrite(0, 0)));
        // 256 blocks do not fit the one-byte field: libiscsi sends 0 with 512 blocks of data, which is refused.
        var truncated = new FakeScsiTask(Cdbs.CompareAndWrite(0, 0), dataOut: new byte[512 * 512]);
        AssertInvalidFieldInCdb(await lu.ExecuteAsync(truncated, default), 13);
        Assert.Equal(0, truncated.DataOutRequests);
        // DPO/FUA accepted.
        AssertGood(await Out(lu, Cdbs.CompareAndWrite(0, 1, 0x18), new byte[1024]));
    }

    [Fact]
    public async Task Concurrent_compare_and_writes_on_one_block_act_as_an_atomic_counter()
    {
        // Each C&W reads the counter it expects and writes counter+1; retries on miscompare. With atomic
        // compare-and-write exactly one wins per value, so the final value equals the number of increments.
        // The store yields inside every read and write so that commands really interleave.
        await using var lu = new BlockDeviceLogicalUnit(new YieldingStore(new Iser.Core.Scsi.Target.Stores.RamBackingStore(1 << 20)), new BlockDeviceOptions { Identity = "atomic" });
        const int workers = 6, increments = 15;
        await Parallel.ForAsync(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, async (w, ct) =>
        {
            for (int done = 0; done < increments;)
            {
                var current = await ReadBlocks(lu, 3, 1);
                long value = BitConverter.ToInt64(current);
                var next = new byte[512];
                BitConverter.TryWriteBytes(next, value + 1);
                // Interleave plain writes to the neighbouring block to exercise shared leases.
                await WriteBlocks(lu, 4, Enumerable.Repeat((byte)w, 512).ToArray());
                var r = await lu.ExecuteAsync(new FakeScsiTask(Cdbs.CompareAndWrite(3, 1), dataOut: current.Concat(next).ToArray()), ct);
                if (r.Status == Iser.Core.Scsi.ScsiStatus.Good) done++;
                else AssertSense(r, 0x0E, 0x1D, 0x00);
            }
        });
        Assert.Equal(workers * increments, BitConverter.ToInt64(await ReadBlocks(lu, 3, 1)));
    }

    /// <summary>Gives up the thread in the middle of every I/O, as a real device would.</summary>
    private sealed class YieldingStore(Iser.Core.Scsi.Target.Stores.IBackingStore inner) : Iser.Core.Scsi.Target.Stores.IBackingStore
    {
        public long Size => inner.Size;
        public bool SupportsDiscard => inner.SupportsDiscard;
        public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            await Task.Delay(1, cancellationToken);
            await inner.ReadAsync(offset, destination, cancellationToken);
        }
        public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            await Task.Delay(1, cancellationToken);
            await inner.WriteAsync(offset, source, cancellationToken);
        }
        public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default) => inner.DiscardAsync(offset, length, cancellationToken);
        public string Describe() => inner.Describe();
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
