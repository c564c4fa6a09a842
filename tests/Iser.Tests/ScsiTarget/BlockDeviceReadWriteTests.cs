using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

public sealed class BlockDeviceReadWriteTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("iser-lu-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private BlockDeviceLogicalUnit Lu(string kind, int blockSize, long size = 32L << 20) => new(kind switch
    {
        "ram" => new RamBackingStore(size),
        "file" => FileBackingStore.Open(Path.Combine(_directory, "lu.img"), size),
        "direct" => FileBackingStore.Open(Path.Combine(_directory, "lu-direct.img"), size, directIo: true),
        _ => throw new ArgumentException(kind),
    }, new BlockDeviceOptions { BlockSize = blockSize, Identity = "rw-test" });

    public static TheoryData<string, int> Stores => new()
    {
        { "ram", 512 }, { "ram", 4096 }, { "file", 512 }, { "file", 4096 }, { "direct", 512 }, { "direct", 4096 },
    };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Data_written_with_each_cdb_size_reads_back_with_every_other(string kind, int blockSize)
    {
        await using var lu = Lu(kind, blockSize);
        Assert.Equal(blockSize, lu.BlockSize);
        Assert.Equal((32L << 20) / blockSize, lu.BlockCount);

        var a = Pattern(3 * blockSize, 10);
        var b = Pattern(5 * blockSize, 11);
        var c = Pattern(2 * blockSize, 12);
        AssertGood(await Out(lu, Cdbs.Write10(7, 3), a));
        AssertGood(await Out(lu, Cdbs.Write12(100, 5), b));
        AssertGood(await Out(lu, Cdbs.Write16((ulong)lu.BlockCount - 2, 2), c));

        var (r1, d1) = await In(lu, Cdbs.Read12(7, 3), a.Length);
        AssertGood(r1);
        Assert.Equal(a, d1);
        var (r2, d2) = await In(lu, Cdbs.Read16(100, 5), b.Length);
        AssertGood(r2);
        Assert.Equal(b, d2);
        var (r3, d3) = await In(lu, Cdbs.Read10((uint)lu.BlockCount - 2, 2), c.Length);
        AssertGood(r3);
        Assert.Equal(c, d3);
        Assert.Equal(c.Length, r3.DataInLength);

        // Untouched blocks read as zeros; neighbours were not disturbed.
        var (r4, d4) = await In(lu, Cdbs.Read10(6, 5), 5 * blockSize);
        AssertGood(r4);
        Assert.Equal(new byte[blockSize], d4[..blockSize]);
        Assert.Equal(a, d4[blockSize..(4 * blockSize)]);
        Assert.Equal(new byte[blockSize], d4[(4 * blockSize)..]);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Sparse_ram_lu_addresses_blocks_beyond_two_gibibytes(int blockSize)
    {
        await using var lu = RamLu(8L << 40, blockSize); // 8 TiB, all sparse
        ulong lba = (ulong)((5L << 32) / blockSize) + 3;  // byte offset 20 GiB+
        var data = Pattern(4 * blockSize, 13);
        AssertGood(await Out(lu, Cdbs.Write16(lba, 4), data));
        Assert.Equal(data, await ReadBlocks(lu, lba, 4));
        var (rc, _) = await In(lu, Cdbs.ReadCapacity10(), 8);
        AssertGood(rc);
    }

    [Fact]
    public async Task Zero_length_transfers_are_good_and_move_no_data()
    {
        await using var lu = RamLu();
        var task = new FakeScsiTask(Cdbs.Write10(0, 0));
        AssertGood(await lu.ExecuteAsync(task, default));
        Assert.Equal(0, task.DataOutRequests);
        var (read, data) = await In(lu, Cdbs.Read16(0, 0), 0);
        AssertGood(read);
        Assert.Empty(data);
        AssertGood(await NoData(lu, Cdbs.Verify10(0, 0, flags: 0x02)));
        // Zero blocks at exactly the capacity is still inside; one past it is not.
        AssertGood(await NoData(lu, Cdbs.Read16((ulong)lu.BlockCount, 0)));
        AssertLbaOutOfRange(await NoData(lu, Cdbs.Read16((ulong)lu.BlockCount + 1, 0)));
    }

    [Theory]
    [InlineData(0x28)]
    [InlineData(0xA8)]
    [InlineData(0x88)]
    [InlineData(0x2A)]
    [InlineData(0xAA)]
    [InlineData(0x8A)]
    [InlineData(0x2F)]
    [InlineData(0x2E)]
    public async Task Ranges_past_the_end_are_lba_out_of_range_before_any_data_moves(byte opcode)
    {
        await using var lu = RamLu(1 << 20); // 2048 blocks
        ulong last = (ulong)lu.BlockCount - 1;
        foreach (var (lba, blocks) in new (ulong, uint)[] { (last, 2), (last + 1, 1), (0x8000_0000, 1), (uint.MaxValue, 1) })
        {
            var cdb = Build(opcode, lba, blocks);
            var task = new FakeScsiTask(cdb, expectedDataIn: (int)blocks * 512, dataOut: new byte[blocks * 512]);
            AssertLbaOutOfRange(await lu.ExecuteAsync(task, default));
            Assert.Equal(0, task.DataOutRequests);
        }
        if (opcode is 0x88 or 0x8A)
        {
            AssertLbaOutOfRange(await In(lu, Build(opcode, ulong.MaxValue, 1), 512).ContinueWith(t => t.Result.Result));
            AssertLbaOutOfRange(await In(lu, Build(opcode, 1UL << 63, 256), 512).ContinueWith(t => t.Result.Result));
        }
    }

    [Theory]
    [InlineData(0x28, 1)]
    [InlineData(0x2A, 1)]
    [InlineData(0x2F, 1)]
    [InlineData(0x2E, 1)]
    [InlineData(0x88, 1)]
    [InlineData(0x8A, 1)]
    [InlineData(0x8F, 1)]
    [InlineData(0x8E, 1)]
    public async Task Protection_fields_without_protection_information_are_invalid_fields(byte opcode, int field)
    {
        await using var lu = RamLu();
        for (int protect = 1; protect < 8; protect++)
        {
            var cdb = Build(opcode, 0, 1);
            cdb[1] |= (byte)((protect << 5) | (opcode is 0x2F or 0x8F or 0x2E or 0x8E ? 0x02 : 0));
            var task = new FakeScsiTask(cdb, expectedDataIn: 512, dataOut: new byte[512]);
            var sense = AssertInvalidFieldInCdb(await lu.ExecuteAsync(task, default), field);
            Assert.Equal(0x08 | 7, sense[15] & 0x0F); // bit pointer valid, bit 7
            Assert.Equal(0, task.DataOutRequests);
        }
    }

    [Fact]
    public async Task Transfers_longer_than_the_block_limits_maximum_are_invalid_fields()
    {
        await using var lu = RamLu(64L << 20, options: new BlockDeviceOptions { MaxTransferBytes = 64 * 1024, Identity = "x" });
        AssertInvalidFieldInCdb((await In(lu, Cdbs.Read10(0, 129), 129 * 512)).Result, 7);
        AssertInvalidFieldInCdb(await Out(lu, Cdbs.Write12(0, 129), new byte[129 * 512]), 6);
        AssertInvalidFieldInCdb((await In(lu, Cdbs.Read16(0, 129), 129 * 512)).Result, 10);
        AssertGood((await In(lu, Cdbs.Read16(0, 128), 128 * 512)).Result);
    }

    [Fact]
    public async Task Dpo_fua_and_obsolete_fua_nv_are_accepted()
    {
        await using var lu = RamLu();
        var data = Pattern(512, 14);
        foreach (byte flags in new byte[] { 0x10, 0x08, 0x18, 0x02, 0x1A })
        {
            AssertGood(await Out(lu, Cdbs.Write10(1, 1, flags), data));
            var (r, d) = await In(lu, Cdbs.Read10(1, 1, flags), 512);
            AssertGood(r);
            Assert.Equal(data, d);
        }
    }

    [Fact]
    public async Task Dpo_fua_are_refused_when_the_lu_does_not_offer_them()
    {
        await using var lu = RamLu(options: new BlockDeviceOptions { DpoFua = false, Identity = "x" });
        AssertInvalidFieldInCdb((await In(lu, Cdbs.Read10(0, 1, 0x08), 512)).Result, 1);
        AssertInvalidFieldInCdb(await Out(lu, Cdbs.Write16(0, 1, 0x10), new byte[512]), 1);
    }

    [Fact]
    public async Task Short_expected_lengths_transfer_whole_blocks_and_report_the_command_length()
    {
        await using var lu = RamLu();
        var a = Enumerable.Repeat((byte)'a', 1024).ToArray();
        AssertGood(await Out(lu, Cdbs.Write10(0, 2), a));

        // WRITE of 2 blocks with only 1 block of data: the first block is written, the second untouched.
        var b = Enumerable.Repeat((byte)'b', 512).ToArray();
        var write = await Out(lu, Cdbs.Write10(0, 2), b);
        AssertGood(write);
        Assert.Equal(1024, write.DataOutLength); // the core turns this into an overflow residual of 512
        var back = await ReadBlocks(lu, 0, 2);
        Assert.Equal(b, back[..512]);
        Assert.Equal(a[..512], back[512..]);

        // READ of 2 blocks with room for 200 bytes: 200 bytes sent, the command length is 1024.
        var (read, data) = await In(lu, Cdbs.Read10(0, 2), 200);
        AssertGood(read);
        Assert.Equal(1024, read.DataInLength);
        Assert.Equal(b[..200], data);

        // READ with EDTL 0 (read10_invalid in libiscsi): GOOD, nothing sent.
        var (none, empty) = await In(lu, Cdbs.Read10(0, 1), 0);
        AssertGood(none);
        Assert.Equal(512, none.DataInLength);
        Assert.Empty(empty);
    }

    [Theory]
    [InlineData(0x2F)]
    [InlineData(0xAF)]
    [InlineData(0x8F)]
    public async Task Verify_with_bytchk_compares_and_reports_the_first_differing_byte(byte opcode)
    {
        await using var lu = RamLu();
        var data = Pattern(8 * 512, 15);
        await WriteBlocks(lu, 40, data);
        AssertGood(await Out(lu, Build(opcode, 40, 8, 0x02), data));

        var wrong = data.ToArray();
        wrong[3 * 512 + 17] ^= 0x58;
        var sense = AssertSense(await Out(lu, Build(opcode, 40, 8, 0x02), wrong), 0x0E, 0x1D, 0x00);
        Assert.Equal((uint)(3 * 512 + 17), Information(sense));

        // BYTCHK 0: a medium verification without data.
        var noCompare = new FakeScsiTask(Build(opcode, 40, 8, 0x00), dataOut: wrong);
        AssertGood(await lu.ExecuteAsync(noCompare, default));
        Assert.Equal(0, noCompare.DataOutRequests);
        // BYTCHK 10b is reserved.
        AssertInvalidFieldInCdb(await Out(lu, Build(opcode, 40, 8, 0x04), data), 1);
    }

    [Fact]
    public async Task Verify_bytchk_11b_compares_one_block_against_every_block()
    {
        await using var lu = RamLu();
        var block = Pattern(512, 16);
        var four = block.Concat(block).Concat(block).Concat(block).ToArray();
        await WriteBlocks(lu, 8, four);
        AssertGood(await Out(lu, Cdbs.Verify16(8, 4, 0x06), block));
        AssertSense(await Out(lu, Cdbs.Verify16(8, 5, 0x06), block), 0x0E, 0x1D, 0x00);
    }

    [Theory]
    [InlineData(0x2E)]
    [InlineData(0xAE)]
    [InlineData(0x8E)]
    public async Task Write_and_verify_writes_the_data(byte opcode)
    {
        await using var lu = RamLu();
        foreach (byte flags in new byte[] { 0x00, 0x02, 0x12 })
        {
            var data = Pattern(3 * 512, flags);
            AssertGood(await Out(lu, Build(opcode, 20, 3, flags), data));
            Assert.Equal(data, await ReadBlocks(lu, 20, 3));
        }
    }

    [Fact]
    public async Task Write_protect_refuses_writes_with_data_protect()
    {
        await using var lu = RamLu(options: new BlockDeviceOptions { ReadOnly = true, Identity = "ro" });
        var task = new FakeScsiTask(Cdbs.Write10(0, 1), dataOut: new byte[512]);
        AssertSense(await lu.ExecuteAsync(task, default), 0x07, 0x27, 0x00);
        Assert.Equal(0, task.DataOutRequests);
        AssertGood((await In(lu, Cdbs.Read10(0, 1), 512)).Result);
    }

    [Fact]
    public async Task Unsupported_opcodes_are_invalid_command_operation_code()
    {
        await using var lu = RamLu();
        foreach (byte op in new byte[] { 0x04, 0x7F, 0xC0, 0x4C, 0x3B })
        {
            var cdb = new byte[16];
            cdb[0] = op;
            var sense = AssertSense(await NoData(lu, cdb), 0x05, 0x20, 0x00);
            Assert.Equal(0xC0, sense[15] & 0xC0); // points at the CDB
            Assert.Equal(0, sense[16] << 8 | sense[17]);
        }
    }

    [Fact]
    public async Task Naca_in_the_control_byte_is_an_invalid_field()
    {
        await using var lu = RamLu();
        var cdb = Cdbs.Read10(0, 1);
        cdb[9] = 0x04;
        AssertInvalidFieldInCdb((await In(lu, cdb, 512)).Result, 9);
    }

    [Fact]
    public async Task Concurrent_writes_to_disjoint_blocks_all_land()
    {
        await using var lu = RamLu();
        await Parallel.ForAsync(0, 200, async (i, ct) =>
        {
            var data = Enumerable.Repeat((byte)i, 512).ToArray();
            AssertGood(await lu.ExecuteAsync(new FakeScsiTask(Cdbs.Write16((ulong)i, 1), dataOut: data), ct));
        });
        var all = await ReadBlocks(lu, 0, 200);
        for (int i = 0; i < 200; i++) Assert.All(all.AsSpan(i * 512, 512).ToArray(), b => Assert.Equal((byte)i, b));
    }

    private static byte[] Build(byte opcode, ulong lba, uint blocks, byte flags = 0) => (opcode >> 5) switch
    {
        1 or 2 => SetOp(Cdbs.Read10((uint)Math.Min(lba, uint.MaxValue), (ushort)blocks, flags), opcode),
        5 => SetOp(Cdbs.Read12((uint)Math.Min(lba, uint.MaxValue), blocks, flags), opcode),
        _ => SetOp(Cdbs.Read16(lba, blocks, flags), opcode),
    };

    private static byte[] SetOp(byte[] cdb, byte opcode)
    {
        cdb[0] = opcode;
        return cdb;
    }
}
