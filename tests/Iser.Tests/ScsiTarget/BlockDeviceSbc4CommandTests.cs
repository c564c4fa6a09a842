using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>READ(6)/WRITE(6), PRE-FETCH, ORWRITE, WRITE ATOMIC, READ DEFECT DATA and GET LBA STATUS (SBC-4).</summary>
public sealed class BlockDeviceSbc4CommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("iser-sbc4-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    // ---- READ(6) / WRITE(6) ----

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Write6_data_reads_back_with_read6_and_read16(int blockSize)
    {
        await using var lu = RamLu(64L << 20, blockSize);
        var a = Pattern(3 * blockSize, 60);
        AssertGood(await Out(lu, Cdbs.Write6(5, 3), a));
        var (r, back) = await In(lu, Cdbs.Read6(5, 3), a.Length);
        AssertGood(r);
        Assert.Equal(a, back);
        Assert.Equal(a, await ReadBlocks(lu, 5, 3));

        // TRANSFER LENGTH 0 means 256 blocks, here ending on the last block (LBA uses all of bytes 1-3).
        uint lba = (uint)lu.BlockCount - 256;
        var b = Pattern(256 * blockSize, 61);
        AssertGood(await Out(lu, Cdbs.Write6(lba, 0), b));
        Assert.Equal(b, await ReadBlocks(lu, lba, 256));
        var (r6, back6) = await In(lu, Cdbs.Read6(lba, 0), b.Length);
        AssertGood(r6);
        Assert.Equal(b, back6);
    }

    [Fact]
    public async Task Read6_and_write6_check_range_and_reserved_bits()
    {
        await using var lu = RamLu(1 << 20); // 2048 blocks
        AssertLbaOutOfRange((await In(lu, Cdbs.Read6((uint)lu.BlockCount - 1, 2), 1024)).Result);
        AssertLbaOutOfRange((await In(lu, Cdbs.Read6(0x1FFFFF, 1), 512)).Result);
        AssertLbaOutOfRange((await In(lu, Cdbs.Read6((uint)lu.BlockCount - 255, 0), 256 * 512)).Result); // 0 = 256
        var task = new FakeScsiTask(Cdbs.Write6((uint)lu.BlockCount, 1), dataOut: new byte[512]);
        AssertLbaOutOfRange(await lu.ExecuteAsync(task, default));
        Assert.Equal(0, task.DataOutRequests);

        // Byte 1 bits 7-5 are reserved (the old LUN field).
        var cdb = Cdbs.Read6(0, 1);
        cdb[1] |= 0x20;
        var sense = AssertInvalidFieldInCdb((await In(lu, cdb, 512)).Result, 1);
        Assert.Equal(0x08 | 5, sense[15] & 0x0F); // BPV, bit 5
        var wcdb = Cdbs.Write6(0, 1);
        wcdb[1] |= 0x80;
        AssertInvalidFieldInCdb(await Out(lu, wcdb, new byte[512]), 1);
    }

    [Fact]
    public async Task Write6_is_refused_on_a_write_protected_unit()
    {
        await using var lu = RamLu(options: new BlockDeviceOptions { ReadOnly = true, Identity = "ro6" });
        var task = new FakeScsiTask(Cdbs.Write6(0, 1), dataOut: new byte[512]);
        AssertSense(await lu.ExecuteAsync(task, default), 0x07, 0x27, 0x00);
        Assert.Equal(0, task.DataOutRequests);
    }

    // ---- PRE-FETCH ----

    [Fact]
    public async Task Prefetch_is_good_in_range_and_checks_the_range()
    {
        await using var lu = RamLu(1 << 20);
        ulong count = (ulong)lu.BlockCount;
        foreach (bool immed in new[] { false, true })
        {
            AssertGood(await NoData(lu, Cdbs.PreFetch10(0, 256, immed)));
            AssertGood(await NoData(lu, Cdbs.PreFetch16(count - 8, 8, immed)));
        }
        // Length 0: from the LBA to the end, also at the capacity itself.
        AssertGood(await NoData(lu, Cdbs.PreFetch10(0, 0)));
        AssertGood(await NoData(lu, Cdbs.PreFetch16(count, 0)));
        AssertLbaOutOfRange(await NoData(lu, Cdbs.PreFetch10((uint)count + 1, 0)));
        AssertLbaOutOfRange(await NoData(lu, Cdbs.PreFetch10((uint)count - 1, 2)));
        AssertLbaOutOfRange(await NoData(lu, Cdbs.PreFetch16(ulong.MaxValue, 1)));
        AssertLbaOutOfRange(await NoData(lu, Cdbs.PreFetch16(1UL << 63, 1)));

        // No transfer limit applies (no data moves): the whole medium at once is fine.
        await using var small = RamLu(64L << 20, options: new BlockDeviceOptions { Identity = "pf", MaxTransferBytes = 64 * 1024 });
        AssertGood(await NoData(small, Cdbs.PreFetch16(0, (uint)small.BlockCount)));
    }

    [Fact]
    public async Task Prefetch_rejects_reserved_bits()
    {
        await using var lu = RamLu(1 << 20);
        var relAdr = Cdbs.PreFetch10(0, 1);
        relAdr[1] = 0x01;
        AssertInvalidFieldInCdb(await NoData(lu, relAdr), 1);
        var high = Cdbs.PreFetch16(0, 1);
        high[1] = 0x80;
        AssertInvalidFieldInCdb(await NoData(lu, high), 1);
        var group = Cdbs.PreFetch10(0, 1);
        group[6] = 0x1F; // GROUP NUMBER is accepted
        AssertGood(await NoData(lu, group));
        group[6] = 0x20;
        AssertInvalidFieldInCdb(await NoData(lu, group), 6);
    }

    // ---- ORWRITE ----

    [Theory]
    [InlineData(512, 3)]
    [InlineData(512, 700)]  // more than one internal chunk
    [InlineData(4096, 70)]
    public async Task Orwrite_leaves_old_or_new(int blockSize, int blocks)
    {
        await using var lu = RamLu(64L << 20, blockSize);
        var old = Pattern(blocks * blockSize, 70);
        var add = Pattern(blocks * blockSize, 71);
        await WriteBlocks(lu, 9, old);
        AssertGood(await Out(lu, Cdbs.OrWrite16(9, (uint)blocks), add));
        var expected = new byte[old.Length];
        for (int i = 0; i < expected.Length; i++) expected[i] = (byte)(old[i] | add[i]);
        Assert.Equal(expected, await ReadBlocks(lu, 9, (uint)blocks));
        // The neighbours are untouched.
        Assert.Equal(new byte[blockSize], await ReadBlocks(lu, 8, 1));
        Assert.Equal(new byte[blockSize], await ReadBlocks(lu, 9 + (ulong)blocks, 1));
    }

    [Fact]
    public async Task Orwrite_validates_before_moving_data()
    {
        await using var lu = RamLu(1 << 20);
        var data = new byte[512];
        // ORPROTECT, reserved bits 2 and 0, reserved group bits.
        foreach (var (flags, bit) in new (byte, int)[] { (0x20, 7), (0x04, 2), (0x01, 0) })
        {
            var task = new FakeScsiTask(Cdbs.OrWrite16(0, 1, flags), dataOut: data);
            var sense = AssertInvalidFieldInCdb(await lu.ExecuteAsync(task, default), 1);
            Assert.Equal(0x08 | bit, sense[15] & 0x0F);
            Assert.Equal(0, task.DataOutRequests);
        }
        var group = Cdbs.OrWrite16(0, 1);
        group[14] = 0x40;
        AssertInvalidFieldInCdb(await Out(lu, group, data), 14);
        // DPO, FUA and FUA_NV are accepted.
        AssertGood(await Out(lu, Cdbs.OrWrite16(0, 1, 0x1A), data));

        AssertLbaOutOfRange(await Out(lu, Cdbs.OrWrite16((ulong)lu.BlockCount, 1), data));
        AssertLbaOutOfRange(await Out(lu, Cdbs.OrWrite16(ulong.MaxValue, 1), data));
        AssertLbaOutOfRange(await NoData(lu, Cdbs.OrWrite16((ulong)lu.BlockCount + 1, 0)));
        AssertGood(await NoData(lu, Cdbs.OrWrite16(0, 0)));

        // Less data than the CDB asks for: nothing is ORed (it must be all or nothing).
        await WriteBlocks(lu, 0, new byte[1024]);
        var shortTask = new FakeScsiTask(Cdbs.OrWrite16(0, 2), dataOut: Enumerable.Repeat((byte)0xFF, 512).ToArray());
        AssertSense(await lu.ExecuteAsync(shortTask, default), 0x05, 0x0E, 0x03);
        Assert.Equal(new byte[1024], await ReadBlocks(lu, 0, 2));

        await using var ro = RamLu(options: new BlockDeviceOptions { ReadOnly = true, Identity = "ro-or" });
        AssertSense(await Out(ro, Cdbs.OrWrite16(0, 1), data), 0x07, 0x27, 0x00);
    }

    [Fact]
    public async Task Concurrent_orwrites_of_disjoint_bits_all_land()
    {
        // Each worker ORs in its own bit; a lost update (read-modify-write race) would drop a bit.
        await using var lu = new BlockDeviceLogicalUnit(new SlowStore(new RamBackingStore(1 << 20)), new BlockDeviceOptions { Identity = "or-race" });
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async bit =>
        {
            var data = Enumerable.Repeat((byte)(1 << bit), 512).ToArray();
            AssertGood(await Out(lu, Cdbs.OrWrite16(4, 1), data));
        }));
        Assert.All(await ReadBlocks(lu, 4, 1), b => Assert.Equal(0xFF, b));
    }

    // ---- WRITE ATOMIC ----

    [Fact]
    public async Task Write_atomic_writes_and_block_limits_advertise_it()
    {
        await using var lu = RamLu(64L << 20);
        var data = Pattern(300 * 512, 80);
        AssertGood(await Out(lu, Cdbs.WriteAtomic16(10, 300), data));
        Assert.Equal(data, await ReadBlocks(lu, 10, 300));

        var (r, page) = await In(lu, Cdbs.Inquiry(true, 0xB0, 255), 255);
        AssertGood(r);
        uint maxTransfer = BinaryPrimitives.ReadUInt32BigEndian(page.AsSpan(8));
        uint maxAtomic = BinaryPrimitives.ReadUInt32BigEndian(page.AsSpan(44));
        Assert.Equal(Math.Min(maxTransfer, 0xFFFFu), maxAtomic);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(page.AsSpan(48))); // ATOMIC ALIGNMENT: none
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(page.AsSpan(52))); // granularity: none
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(page.AsSpan(56))); // no atomic boundaries
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(page.AsSpan(60)));
    }

    [Fact]
    public async Task Write_atomic_validates_before_moving_data()
    {
        await using var lu = RamLu(1 << 20, options: new BlockDeviceOptions { Identity = "wa", MaxTransferBytes = 64 * 1024 });
        var one = new byte[512];
        var boundary = new FakeScsiTask(Cdbs.WriteAtomic16(0, 1, boundary: 1), dataOut: one);
        AssertInvalidFieldInCdb(await lu.ExecuteAsync(boundary, default), 10);
        Assert.Equal(0, boundary.DataOutRequests);
        AssertInvalidFieldInCdb(await Out(lu, Cdbs.WriteAtomic16(0, 1, flags: 0x40), one), 1); // WRPROTECT
        AssertInvalidFieldInCdb(await Out(lu, Cdbs.WriteAtomic16(0, 1, flags: 0x02), one), 1); // reserved in WRITE ATOMIC
        AssertGood(await Out(lu, Cdbs.WriteAtomic16(0, 1, flags: 0x18), one));                 // DPO, FUA
        AssertInvalidFieldInCdb(await Out(lu, Cdbs.WriteAtomic16(0, 129), new byte[129 * 512]), 12); // over the limit
        AssertLbaOutOfRange(await Out(lu, Cdbs.WriteAtomic16((ulong)lu.BlockCount - 1, 2), new byte[1024]));
        AssertLbaOutOfRange(await NoData(lu, Cdbs.WriteAtomic16(1UL << 63, 0)));
        AssertGood(await NoData(lu, Cdbs.WriteAtomic16(0, 0)));

        // A short Data-Out buffer would make it a partial write: refused, nothing written.
        var shortTask = new FakeScsiTask(Cdbs.WriteAtomic16(0, 2), dataOut: Enumerable.Repeat((byte)1, 512).ToArray());
        AssertSense(await lu.ExecuteAsync(shortTask, default), 0x05, 0x0E, 0x03);
        Assert.Equal(new byte[1024], await ReadBlocks(lu, 0, 2));

        await using var ro = RamLu(options: new BlockDeviceOptions { ReadOnly = true, Identity = "ro-wa" });
        AssertSense(await Out(ro, Cdbs.WriteAtomic16(0, 1), one), 0x07, 0x27, 0x00);
    }

    [Fact]
    public async Task A_read_during_a_write_atomic_sees_all_of_it_while_a_plain_write_can_be_seen_half_done()
    {
        var store = new HalfwayStore(new RamBackingStore(1 << 20));
        await using var lu = new BlockDeviceLogicalUnit(store, new BlockDeviceOptions { Identity = "atomic" });
        var data = Enumerable.Repeat((byte)0xAB, 8 * 512).ToArray();

        // Plain WRITE: a READ issued while the store is half way through returns the torn state.
        store.Arm();
        var write = Out(lu, Cdbs.Write16(0, 8), data);
        await store.Halfway;
        var torn = await ReadBlocks(lu, 0, 8);
        store.Release();
        AssertGood(await write);
        Assert.Equal(0xAB, torn[0]);
        Assert.Equal(0x00, torn[^1]);

        // WRITE ATOMIC: the READ waits and then sees the whole write.
        var next = Enumerable.Repeat((byte)0xCD, 8 * 512).ToArray();
        store.Arm();
        var atomic = Out(lu, Cdbs.WriteAtomic16(0, 8), next);
        await store.Halfway;
        var read = ReadBlocks(lu, 0, 8);
        await Task.Delay(50);
        Assert.False(read.IsCompleted, "the READ must wait for the atomic write");
        store.Release();
        AssertGood(await atomic);
        Assert.Equal(next, await read);
    }

    // ---- READ DEFECT DATA ----

    [Fact]
    public async Task Read_defect_data_returns_an_empty_list_in_the_requested_format()
    {
        await using var lu = RamLu(1 << 20);
        foreach (byte format in new byte[] { 0, 3, 4, 5 })
        {
            var (r10, d10) = await In(lu, Cdbs.ReadDefectData10((byte)(0x18 | format), 32), 32);
            AssertGood(r10);
            Assert.Equal(new byte[] { 0, (byte)(0x18 | format), 0, 0 }, d10); // PLISTV, GLISTV, format; length 0
            var (r12, d12) = await In(lu, Cdbs.ReadDefectData12((byte)(0x08 | format), 32), 32);
            AssertGood(r12);
            Assert.Equal(new byte[] { 0, (byte)(0x08 | format), 0, 0, 0, 0, 0, 0 }, d12);
        }
        var (rShort, dShort) = await In(lu, Cdbs.ReadDefectData12(0x10, 2), 2);
        AssertGood(rShort);
        Assert.Equal(2, dShort.Length);
        AssertInvalidFieldInCdb((await In(lu, Cdbs.ReadDefectData10(0x07, 32), 32)).Result, 2);
        AssertInvalidFieldInCdb((await In(lu, Cdbs.ReadDefectData12(0x07, 32), 32)).Result, 1);
        AssertInvalidFieldInCdb((await In(lu, Cdbs.ReadDefectData10(0x20, 32), 32)).Result, 2);
        var reserved = Cdbs.ReadDefectData10(0, 32);
        reserved[1] = 0x01;
        AssertInvalidFieldInCdb((await In(lu, reserved, 32)).Result, 1);
    }

    // ---- GET LBA STATUS ----

    private static List<(ulong Lba, uint Blocks, int Status)> Descriptors(byte[] data)
    {
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(data) + 4;
        var list = new List<(ulong, uint, int)>();
        for (int p = 8; p + 16 <= Math.Min(length, data.Length); p += 16)
            list.Add((BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(p)), BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(p + 8)), data[p + 12] & 0x0F));
        return list;
    }

    private static async Task<List<(ulong Lba, uint Blocks, int Status)>> LbaStatus(ILogicalUnit lu, ulong lba, uint allocation = 1024)
    {
        var (r, d) = await In(lu, Cdbs.GetLbaStatus(lba, allocation), (int)allocation);
        AssertGood(r);
        return Descriptors(d);
    }

    [Fact]
    public async Task Get_lba_status_on_a_thin_ram_lu_follows_writes_and_unmaps()
    {
        await using var lu = RamLu(8L << 20); // 16384 blocks, 2048 per 1 MiB chunk
        ulong count = (ulong)lu.BlockCount;
        Assert.Equal([(0UL, (uint)count, 1)], await LbaStatus(lu, 0));

        await WriteBlocks(lu, 2048 + 5, Pattern(512, 90));
        Assert.Equal([(0UL, 2048u, 1), (2048UL, 2048u, 0), (4096UL, (uint)count - 4096, 1)], await LbaStatus(lu, 0));
        // The first descriptor starts at the STARTING LBA.
        Assert.Equal((3000UL, 1096u, 0), (await LbaStatus(lu, 3000))[0]);

        var list = Cdbs.UnmapList((2048, 2048));
        AssertGood(await Out(lu, Cdbs.Unmap((ushort)list.Length), list));
        Assert.Equal([(0UL, (uint)count, 1)], await LbaStatus(lu, 0));
        Assert.Equal([(100UL, (uint)count - 100, 1)], await LbaStatus(lu, 100));
    }

    [Fact]
    public async Task Get_lba_status_checks_the_lba_and_honours_the_allocation_length()
    {
        await using var lu = RamLu(8L << 20);
        await WriteBlocks(lu, 0, Pattern(512, 91));
        AssertLbaOutOfRange((await In(lu, Cdbs.GetLbaStatus((ulong)lu.BlockCount, 24), 24)).Result);
        AssertLbaOutOfRange((await In(lu, Cdbs.GetLbaStatus(ulong.MaxValue, 24), 24)).Result);
        AssertGood((await In(lu, Cdbs.GetLbaStatus((ulong)lu.BlockCount - 1, 24), 24)).Result);

        // 24 bytes: one descriptor, and the header counts only what was built.
        var (r, d) = await In(lu, Cdbs.GetLbaStatus(0, 24), 24);
        AssertGood(r);
        Assert.Equal(24, d.Length);
        Assert.Equal(20u, BinaryPrimitives.ReadUInt32BigEndian(d));
        Assert.Equal([(0UL, 2048u, 0)], Descriptors(d));
        var (r4, d4) = await In(lu, Cdbs.GetLbaStatus(0, 4), 4);
        AssertGood(r4);
        Assert.Equal(4, d4.Length);
        AssertGood((await In(lu, Cdbs.GetLbaStatus(0, 0), 0)).Result);

        var reserved = Cdbs.GetLbaStatus(0, 24);
        reserved[14] = 0x01; // REPORT TYPE other than "all" is not offered
        AssertInvalidFieldInCdb((await In(lu, reserved, 24)).Result, 14);
    }

    [Fact]
    public async Task Get_lba_status_without_thin_provisioning_reports_everything_mapped()
    {
        await using var lu = RamLu(8L << 20, options: new BlockDeviceOptions { ThinProvisioning = false, Identity = "thick" });
        Assert.Equal([(0UL, (uint)lu.BlockCount, 0)], await LbaStatus(lu, 0));
        var (r, rc) = await In(lu, Cdbs.ReadCapacity16(), 32);
        AssertGood(r);
        Assert.Equal(0, rc[14] & 0x80); // LBPME 0 agrees
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Get_lba_status_on_a_thin_file_lu_reports_the_hole_unmap_punched(int blockSize)
    {
        var path = Path.Combine(_directory, $"thin-{blockSize}.img");
        await using var lu = new BlockDeviceLogicalUnit(FileBackingStore.Open(path, 8L << 20),
            new BlockDeviceOptions { BlockSize = blockSize, Identity = "thin-file" });
        ulong count = (ulong)lu.BlockCount;
        uint perMiB = (uint)((1 << 20) / blockSize);
        // A freshly extended file is all hole.
        Assert.Equal([(0UL, (uint)count, 1)], await LbaStatus(lu, 0));

        await WriteBlocks(lu, 0, Pattern(2 << 20, 92));
        Assert.Equal([(0UL, 2 * perMiB, 0), (2UL * perMiB, (uint)count - 2 * perMiB, 1)], await LbaStatus(lu, 0));

        var list = Cdbs.UnmapList((perMiB / 2, perMiB));
        AssertGood(await Out(lu, Cdbs.Unmap((ushort)list.Length), list));
        Assert.Equal(
            [(0UL, perMiB / 2, 0), (perMiB / 2, perMiB, 1), (perMiB * 3 / 2, perMiB / 2, 0), (2UL * perMiB, (uint)count - 2 * perMiB, 1)],
            await LbaStatus(lu, 0));
        Assert.Equal(new byte[blockSize], await ReadBlocks(lu, perMiB, 1));
    }

    [Fact]
    public async Task Store_extents_of_ram_and_the_interface_default()
    {
        var ram = new RamBackingStore(4 << 20, chunkSize: 1 << 20);
        Assert.Equal(new StoreExtent(0, 4 << 20, false), await ram.GetExtentAsync(0));
        await ram.WriteAsync((1 << 20) + 7, new byte[] { 1 });
        Assert.Equal(new StoreExtent(5, (1 << 20) - 5, false), await ram.GetExtentAsync(5));
        Assert.Equal(new StoreExtent(1 << 20, 1 << 20, true), await ram.GetExtentAsync(1 << 20));
        // A partial discard zeroes but keeps the chunk: still mapped.
        await ram.DiscardAsync(1 << 20, 4096);
        Assert.True((await ram.GetExtentAsync(1 << 20)).Mapped);
        await ram.DiscardAsync(1 << 20, 1 << 20);
        Assert.Equal(new StoreExtent(0, 4 << 20, false), await ram.GetExtentAsync(0));

        // A store that never releases space relies on the interface default: all mapped.
        IBackingStore nul = new NullBackingStore(1 << 20);
        Assert.Equal(new StoreExtent(4096, (1 << 20) - 4096, true), await nul.GetExtentAsync(4096));
    }

    // ---- REPORT SUPPORTED OPERATION CODES ----

    [Theory]
    [InlineData(0x08, 6, 0x1F)]
    [InlineData(0x0A, 6, 0x1F)]
    [InlineData(0x34, 10, 0x02)]
    [InlineData(0x37, 10, 0x00)]
    [InlineData(0x8B, 16, 0x1A)]
    [InlineData(0x90, 16, 0x02)]
    [InlineData(0x9C, 16, 0x18)]
    [InlineData(0xB7, 12, 0x1F)]
    public async Task Report_supported_operation_codes_lists_the_new_commands(byte opcode, int cdbLength, byte usageByte1)
    {
        await using var lu = RamLu();
        var (r, d) = await In(lu, Cdbs.ReportSupportedOpcodes(1, opcode), 65535);
        AssertGood(r);
        Assert.Equal(0x03, d[1] & 0x07);
        Assert.Equal(cdbLength, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(2)));
        Assert.Equal(opcode, d[4]);
        Assert.Equal(usageByte1, d[5]);
        Assert.Equal(0, d[4 + cdbLength - 1]); // CONTROL: no NACA/LINK
    }

    [Fact]
    public async Task Report_supported_operation_codes_lists_get_lba_status_and_the_dpo_fua_bits_follow_the_option()
    {
        await using var lu = RamLu();
        var (r, d) = await In(lu, Cdbs.ReportSupportedOpcodes(2, 0x9E, 0x12), 65535);
        AssertGood(r);
        Assert.Equal(0x03, d[1] & 0x07);
        Assert.Equal(new byte[] { 0x9E, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0 }, d[4..]);

        await using var plain = RamLu(options: new BlockDeviceOptions { DpoFua = false, Identity = "nodpo" });
        var (r2, d2) = await In(plain, Cdbs.ReportSupportedOpcodes(1, 0x9C), 65535);
        AssertGood(r2);
        Assert.Equal(0x00, d2[5]);
        AssertInvalidFieldInCdb(await Out(plain, Cdbs.WriteAtomic16(0, 1, flags: 0x08), new byte[512]), 1);
        AssertInvalidFieldInCdb(await Out(plain, Cdbs.OrWrite16(0, 1, flags: 0x10), new byte[512]), 1);
    }

    /// <summary>Gives up the thread in the middle of every I/O, so read-modify-write races would show.</summary>
    private sealed class SlowStore(IBackingStore inner) : IBackingStore
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

    /// <summary>When armed, the next write stores its first half and then waits to be released before the rest.</summary>
    private sealed class HalfwayStore(IBackingStore inner) : IBackingStore
    {
        private TaskCompletionSource? _halfway;
        private TaskCompletionSource? _release;

        public Task Halfway => _halfway!.Task;
        public void Arm()
        {
            _halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        public void Release() => _release!.TrySetResult();

        public long Size => inner.Size;
        public bool SupportsDiscard => inner.SupportsDiscard;
        public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(offset, destination, cancellationToken);
        public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            if (_release is not { Task.IsCompleted: false } release) { await inner.WriteAsync(offset, source, cancellationToken); return; }
            int half = source.Length / 2;
            await inner.WriteAsync(offset, source[..half], cancellationToken);
            _halfway!.TrySetResult();
            await release.Task;
            await inner.WriteAsync(offset + half, source[half..], cancellationToken);
        }
        public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default) => inner.DiscardAsync(offset, length, cancellationToken);
        public string Describe() => inner.Describe();
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
