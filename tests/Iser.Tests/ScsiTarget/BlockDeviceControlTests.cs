using System.Buffers.Binary;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>READ CAPACITY, MODE SENSE/SELECT, REPORT LUNS, REPORT SUPPORTED OPERATION CODES and unit state.</summary>
public class BlockDeviceControlTests
{
    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Read_capacity_reports_last_lba_block_size_and_provisioning(int blockSize)
    {
        await using var lu = RamLu(64L << 20, blockSize);
        var (r10, d10) = await In(lu, Cdbs.ReadCapacity10(), 8);
        AssertGood(r10);
        Assert.Equal((uint)((64L << 20) / blockSize - 1), BinaryPrimitives.ReadUInt32BigEndian(d10));
        Assert.Equal((uint)blockSize, BinaryPrimitives.ReadUInt32BigEndian(d10.AsSpan(4)));

        var (r16, d16) = await In(lu, Cdbs.ReadCapacity16(), 32);
        AssertGood(r16);
        Assert.Equal(32, d16.Length);
        Assert.Equal((ulong)((64L << 20) / blockSize - 1), BinaryPrimitives.ReadUInt64BigEndian(d16));
        Assert.Equal((uint)blockSize, BinaryPrimitives.ReadUInt32BigEndian(d16.AsSpan(8)));
        Assert.Equal(0, d16[12] & 0x01);                               // PROT_EN
        Assert.Equal(blockSize == 512 ? 3 : 0, d16[13] & 0x0F);        // 4096-byte physical blocks
        Assert.Equal(0xC0, d16[14] & 0xC0);                            // LBPME, LBPRZ
    }

    [Fact]
    public async Task Read_capacity_10_saturates_on_large_units_and_16_honours_allocation_length()
    {
        await using var lu = RamLu(4L << 40); // 2^33 blocks of 512
        var (_, d10) = await In(lu, Cdbs.ReadCapacity10(), 8);
        Assert.Equal(0xFFFFFFFFu, BinaryPrimitives.ReadUInt32BigEndian(d10));
        for (uint n = 0; n <= 16; n++)
        {
            var (r, d) = await In(lu, Cdbs.ReadCapacity16(n), 32);
            AssertGood(r);
            Assert.Equal((int)n, d.Length);
        }
        var (_, full) = await In(lu, Cdbs.ReadCapacity16(), 32);
        Assert.Equal((ulong)(4L << 40) / 512 - 1, BinaryPrimitives.ReadUInt64BigEndian(full));
        var wrongAction = Cdbs.ReadCapacity16();
        wrongAction[1] = 0x11;
        AssertInvalidFieldInCdb((await In(lu, wrongAction, 32)).Result, 1);
        var lbaWithoutPmi = Cdbs.ReadCapacity10();
        lbaWithoutPmi[5] = 1;
        AssertInvalidFieldInCdb((await In(lu, lbaWithoutPmi, 8)).Result, 2);
    }

    [Fact]
    public async Task Mode_sense_6_all_pages_with_block_descriptor()
    {
        await using var lu = RamLu(64L << 20);
        var (r, d) = await In(lu, Cdbs.ModeSense6(0x3F), 255);
        AssertGood(r);
        Assert.Equal(d.Length - 1, d[0]);          // mode data length
        Assert.Equal(0x10, d[2] & 0x10);           // DPOFUA
        Assert.Equal(0x00, d[2] & 0x80);           // not write protected
        Assert.Equal(8, d[3]);                     // one short block descriptor
        Assert.Equal((uint)((64L << 20) / 512), BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(4)));
        Assert.Equal(512, (d[9] << 16) | (d[10] << 8) | d[11]);
        // Caching page then control page.
        Assert.Equal(0x08, d[12] & 0x3F);
        Assert.Equal(0x12, d[13]);
        Assert.Equal(0x04, d[14] & 0x04);          // WCE
        Assert.Equal(0x0A, d[32] & 0x3F);
        Assert.Equal(0x0A, d[33]);
        Assert.Equal(0x00, d[34] & 0x04);          // D_SENSE 0: fixed format sense, as we send
        Assert.Equal(12 + 20 + 12, d.Length);
    }

    [Fact]
    public async Task Mode_sense_page_control_dbd_truncation_and_errors()
    {
        await using var lu = RamLu();
        var (_, changeable) = await In(lu, Cdbs.ModeSense6(0x0A, pageControl: 1, dbd: true), 255);
        Assert.Equal(0, changeable[3]);             // DBD: no block descriptor
        Assert.Equal(0x08, changeable[4 + 4]);      // SWP changeable
        var (_, cachingChangeable) = await In(lu, Cdbs.ModeSense6(0x08, pageControl: 1, dbd: true), 255);
        Assert.Equal(0x04, cachingChangeable[4 + 2]); // WCE changeable
        var (defaults, _) = await In(lu, Cdbs.ModeSense6(0x3F, pageControl: 2), 255);
        AssertGood(defaults);

        AssertSense((await In(lu, Cdbs.ModeSense6(0x3F, pageControl: 3), 255)).Result, 0x05, 0x39, 0x00);
        AssertInvalidFieldInCdb((await In(lu, Cdbs.ModeSense6(0x19), 255)).Result, 2);
        AssertInvalidFieldInCdb((await In(lu, Cdbs.ModeSense6(0x08, subpage: 0x01), 255)).Result, 3);
        AssertGood((await In(lu, Cdbs.ModeSense6(0x3F, subpage: 0xFF), 255)).Result);

        var (small, four) = await In(lu, Cdbs.ModeSense6(0x3F, allocation: 4), 4);
        AssertGood(small);
        Assert.Equal(4, four.Length);
        Assert.Equal(4, small.DataInLength);
    }

    [Fact]
    public async Task Mode_sense_10_with_long_lba_descriptor()
    {
        await using var lu = RamLu(64L << 20, 4096);
        var (r, d) = await In(lu, Cdbs.ModeSense10(0x08, llbaa: true), 1024);
        AssertGood(r);
        Assert.Equal(d.Length - 2, BinaryPrimitives.ReadUInt16BigEndian(d));
        Assert.Equal(0x01, d[4] & 0x01);                       // LONGLBA
        Assert.Equal(16, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(6)));
        Assert.Equal((ulong)(64L << 20) / 4096, BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(8)));
        Assert.Equal(4096u, BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(20)));
        Assert.Equal(0x08, d[24] & 0x3F);
    }

    [Fact]
    public async Task Mode_select_sets_software_write_protect_and_write_cache()
    {
        await using var lu = RamLu();
        var (_, current) = await In(lu, Cdbs.ModeSense6(0x0A, dbd: true), 255);
        var list = current.ToArray();
        list[0] = 0;                  // mode data length is reserved in MODE SELECT
        list[2] = 0;                  // device-specific parameter: ignored
        list[4 + 4] |= 0x08;          // SWP on
        AssertGood(await Out(lu, Cdbs.ModeSelect6((byte)list.Length), list));

        var (_, after) = await In(lu, Cdbs.ModeSense6(0x3F), 255);
        Assert.Equal(0x80, after[2] & 0x80);                 // WP in the header
        var write = new FakeScsiTask(Cdbs.Write10(0, 1), dataOut: new byte[512]);
        AssertSense(await lu.ExecuteAsync(write, default), 0x07, 0x27, 0x00);
        AssertGood((await In(lu, Cdbs.Read10(0, 1), 512)).Result);

        list[4 + 4] &= 0xF7;          // SWP off again
        AssertGood(await Out(lu, Cdbs.ModeSelect6((byte)list.Length), list));
        AssertGood(await Out(lu, Cdbs.Write10(0, 1), new byte[512]));

        // Caching page: WCE off.
        var (_, caching) = await In(lu, Cdbs.ModeSense6(0x08, dbd: true), 255);
        caching[0] = 0;
        caching[4 + 2] &= 0xFB;
        AssertGood(await Out(lu, Cdbs.ModeSelect6((byte)caching.Length), caching));
        var (_, check) = await In(lu, Cdbs.ModeSense6(0x08, dbd: true), 255);
        Assert.Equal(0, check[4 + 2] & 0x04);

        // A reset returns to power-on values, and the next command says it happened.
        lu.Reset(LogicalUnitResetKind.LogicalUnitReset);
        AssertSense((await In(lu, Cdbs.ModeSense6(0x08, dbd: true), 255)).Result, 0x06, 0x29, 0x03);
        var (_, reset) = await In(lu, Cdbs.ModeSense6(0x08, dbd: true), 255);
        Assert.Equal(0x04, reset[4 + 2] & 0x04);
    }

    [Fact]
    public async Task Mode_select_refuses_unchangeable_fields_saving_and_unknown_pages()
    {
        await using var lu = RamLu();
        var (_, current) = await In(lu, Cdbs.ModeSense6(0x0A, dbd: true), 255);
        var list = current.ToArray();
        list[0] = 0;
        list[2] = 0;
        list[4 + 2] |= 0x04;          // D_SENSE is not changeable
        var sense = AssertSense(await Out(lu, Cdbs.ModeSelect6((byte)list.Length), list), 0x05, 0x26, 0x00);
        Assert.Equal(0x80, sense[15] & 0xC0);  // SKSV, C/D = parameter list
        Assert.Equal(4 + 2, BinaryPrimitives.ReadUInt16BigEndian(sense.AsSpan(16)));

        AssertInvalidFieldInCdb(await Out(lu, Cdbs.ModeSelect6((byte)current.Length, sp: true), current), 1);
        byte[] unknown = [0, 0, 0, 0, 0x19, 0x06, 0, 0, 0, 0, 0, 0];
        AssertSense(await Out(lu, Cdbs.ModeSelect6((byte)unknown.Length), unknown), 0x05, 0x26, 0x00);
        AssertGood(await Out(lu, Cdbs.ModeSelect6(0), []));
        // Nothing was applied by the refused lists.
        var (_, after) = await In(lu, Cdbs.ModeSense6(0x0A, dbd: true), 255);
        Assert.Equal(current[4..], after[4..]);
    }

    [Fact]
    public async Task Report_luns_lists_the_targets_luns_in_sam_format()
    {
        await using var lu = RamLu(options: new BlockDeviceOptions { Identity = "x", LunList = () => [3, 0, 300] });
        var (r, d) = await In(lu, Cdbs.ReportLuns(), 4096);
        AssertGood(r);
        Assert.Equal(24u, BinaryPrimitives.ReadUInt32BigEndian(d));
        Assert.Equal(32, d.Length);
        Assert.Equal(new byte[8], d[8..16]);
        Assert.Equal(new byte[] { 0, 3, 0, 0, 0, 0, 0, 0 }, d[16..24]);
        Assert.Equal(new byte[] { 0x41, 0x2C, 0, 0, 0, 0, 0, 0 }, d[24..32]); // flat space addressing for 300

        var (truncated, head) = await In(lu, Cdbs.ReportLuns(16), 4096);
        AssertGood(truncated);
        Assert.Equal(d[..16], head);
        AssertInvalidFieldInCdb((await In(lu, Cdbs.ReportLuns(select: 0x07), 4096)).Result, 2);
        var (_, wellKnown) = await In(lu, Cdbs.ReportLuns(select: 0x01), 4096);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(wellKnown));

        await using var alone = RamLu();
        var (_, own) = await In(alone, Cdbs.ReportLuns(), 4096);
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(own));
    }

    [Fact]
    public async Task Report_supported_operation_codes_one_command_shows_dpo_fua()
    {
        await using var lu = RamLu();
        foreach (byte op in new byte[] { 0x28, 0x2A, 0xA8, 0xAA, 0x88, 0x8A, 0x89 })
        {
            var (r, d) = await In(lu, Cdbs.ReportSupportedOpcodes(1, op), 65535);
            AssertGood(r);
            Assert.Equal(0x03, d[1] & 0x07);                         // supported, per the standard
            int size = BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(2));
            Assert.Equal(op >= 0x80 && op < 0xA0 ? 16 : op >= 0xA0 ? 12 : 10, size);
            Assert.Equal(op, d[4]);
            Assert.Equal(0x18, d[5] & 0x18);                         // DPO and FUA
            Assert.Equal(0x00, d[5] & 0xE0);                         // no protection
        }
        var (v, vd) = await In(lu, Cdbs.ReportSupportedOpcodes(1, 0x2F), 65535);
        Assert.Equal(0x10, vd[5] & 0x10);
        var (absent, ad) = await In(lu, Cdbs.ReportSupportedOpcodes(1, 0x3B), 65535); // WRITE BUFFER
        AssertGood(absent);
        Assert.Equal(0x01, ad[1] & 0x07);                            // not supported
        AssertInvalidFieldInCdb((await In(lu, Cdbs.ReportSupportedOpcodes(1, 0x9E), 65535)).Result, 2);
        var (sa, sd) = await In(lu, Cdbs.ReportSupportedOpcodes(2, 0x9E, 0x10, timeouts: true), 65535);
        AssertGood(sa);
        Assert.Equal(0x83, sd[1]);                                   // CTDP + supported
        Assert.Equal(4 + 16 + 12, sd.Length);
        Assert.Equal(0x0A, BinaryPrimitives.ReadUInt16BigEndian(sd.AsSpan(20)));
    }

    [Fact]
    public async Task Report_supported_operation_codes_all_commands()
    {
        await using var lu = RamLu();
        var (r, d) = await In(lu, Cdbs.ReportSupportedOpcodes(0, timeouts: true), 65535);
        AssertGood(r);
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(d);
        Assert.Equal(d.Length - 4, length);
        var ops = new List<byte>();
        for (int p = 4; p < d.Length; p += 20)
        {
            ops.Add(d[p]);
            Assert.Equal(0x02, d[p + 5] & 0x02);                     // CTDP
        }
        Assert.Equal(ops.Order().ToList(), ops);
        foreach (byte expected in new byte[] { 0x00, 0x12, 0x25, 0x28, 0x2A, 0x2F, 0x35, 0x41, 0x42, 0x88, 0x89, 0x8A, 0x93, 0x9E, 0xA0 })
            Assert.Contains(expected, ops);
    }

    [Fact]
    public async Task A_fixed_disk_stays_ready_through_start_stop_unit_and_prevent_allow()
    {
        // A shared LUN must not go NOT READY for everyone because one initiator stopped it (Linux does at shutdown).
        await using var lu = RamLu();
        var (ok, none) = await In(lu, Cdbs.RequestSense(), 252);
        AssertGood(ok);
        Assert.Equal(18, none.Length);
        Assert.Equal(0x70, none[0]);
        Assert.Equal(0x00, none[2] & 0x0F);
        AssertGood(await NoData(lu, Cdbs.StartStopUnit(start: false)));
        AssertGood(await NoData(lu, Cdbs.TestUnitReady()));
        AssertGood(await NoData(lu, [0x1B, 0, 0, 0, 0x02, 0]));                // LOEJ on a fixed disk: nothing to eject
        AssertGood((await In(lu, Cdbs.Read10(0, 1), 512)).Result);
        AssertGood(await NoData(lu, [0x1B, 0, 0, 0, 0x30, 0]));                // a power condition: accepted, ignored
        AssertGood(await NoData(lu, Cdbs.PreventAllow(prevent: true)));
        AssertGood(await NoData(lu, [0x1B, 0, 0, 0, 0x02, 0]));                // nothing prevented on a fixed disk
        AssertGood(await NoData(lu, Cdbs.PreventAllow(prevent: false)));
        AssertInvalidFieldInCdb((await In(lu, [0x03, 0x01, 0, 0, 252, 0], 252)).Result, 1); // descriptor sense not offered
    }

    [Fact]
    public async Task A_removable_medium_is_ejected_and_loaded_unless_a_nexus_prevents_its_removal()
    {
        var a = FakeScsiTask.DefaultNexus;
        var b = new Iser.Core.Scsi.Target.Reservations.ItNexus("iqn.2026-12.test:b", 0x23D000000002, "iqn.2026-12.test:target", 1, 1);
        await using var lu = RamLu(options: new BlockDeviceOptions { BlockSize = 512, Identity = "removable", Removable = true });
        var (_, inquiry) = await In(lu, Cdbs.Inquiry(false, 0, 96), 96);
        Assert.Equal(0x80, inquiry[1] & 0x80);                                  // RMB
        byte[] eject = [0x1B, 0, 0, 0, 0x02, 0], load = [0x1B, 0, 0, 0, 0x03, 0];

        AssertGood(await NoData(lu, Cdbs.PreventAllow(prevent: true)));
        AssertSense(await lu.ExecuteAsync(new FakeScsiTask(eject, nexus: b), default), 0x05, 0x53, 0x02); // another nexus: prevented too
        AssertGood(await NoData(lu, Cdbs.TestUnitReady()));
        lu.OnNexusLoss(a);                                                      // the preventing nexus ends: so does its prevention
        AssertGood(await lu.ExecuteAsync(new FakeScsiTask(eject, nexus: b), default));
        AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x02, 0x3A, 0x00); // MEDIUM NOT PRESENT
        AssertSense((await In(lu, Cdbs.Read10(0, 1), 512)).Result, 0x02, 0x3A, 0x00);
        AssertSense((await In(lu, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8)).Result, 0x02, 0x3A, 0x00); // READ CAPACITY(10)
        var (_, sense) = await In(lu, Cdbs.RequestSense(), 252);
        Assert.Equal((0x02, 0x3A, 0x00), (sense[2] & 0x0F, (int)sense[12], (int)sense[13]));
        AssertGood(await NoData(lu, load));
        AssertGood(await NoData(lu, Cdbs.TestUnitReady()));

        AssertGood(await NoData(lu, Cdbs.PreventAllow(prevent: true)));
        lu.Reset(LogicalUnitResetKind.LogicalUnitReset);                        // a reset clears every prevention
        AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x06, 0x29, 0x03);
        AssertGood(await NoData(lu, eject));
        AssertGood(await NoData(lu, load));
    }

    [Fact]
    public async Task Synchronize_cache_flushes_and_checks_its_range()
    {
        var store = new CountingStore(new RamBackingStore(1 << 20));
        await using var lu = new BlockDeviceLogicalUnit(store, new BlockDeviceOptions { Identity = "sync" });
        AssertGood(await NoData(lu, Cdbs.SynchronizeCache10()));
        AssertGood(await NoData(lu, Cdbs.SynchronizeCache16(10, 20)));
        Assert.Equal(2, store.Flushes);
        AssertLbaOutOfRange(await NoData(lu, Cdbs.SynchronizeCache16((ulong)lu.BlockCount, 1)));
        Assert.Equal(2, store.Flushes);

        // FUA writes and writes with the write cache disabled are flushed; plain writes are not.
        AssertGood(await Out(lu, Cdbs.Write10(0, 1), new byte[512]));
        Assert.Equal(2, store.Flushes);
        AssertGood(await Out(lu, Cdbs.Write10(0, 1, 0x08), new byte[512]));
        Assert.Equal(3, store.Flushes);
    }

    /// <summary>Counts flushes on the way through to a real store.</summary>
    internal sealed class CountingStore(IBackingStore inner) : IBackingStore
    {
        public int Flushes;
        public long Size => inner.Size;
        public bool SupportsDiscard => inner.SupportsDiscard;
        public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) => inner.ReadAsync(offset, destination, cancellationToken);
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => inner.WriteAsync(offset, source, cancellationToken);
        public ValueTask FlushAsync(CancellationToken cancellationToken = default) { Interlocked.Increment(ref Flushes); return inner.FlushAsync(cancellationToken); }
        public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default) => inner.DiscardAsync(offset, length, cancellationToken);
        public string Describe() => "counting " + inner.Describe();
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
