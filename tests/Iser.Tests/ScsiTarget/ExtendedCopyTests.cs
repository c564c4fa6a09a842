using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>
/// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 §6.4, §6.18) at the block logical unit: block-to-block and
/// byte-offset segments within one logical unit and between two of one target, data read back equal, neighbours
/// untouched; copy targets found only among the target's own logical units; every parameter-list error with its sense;
/// reservations honoured on both ends; the Third-party Copy VPD page and the operating parameters.
/// </summary>
public sealed class ExtendedCopyTests
{
    private static readonly ItNexus Other = new("iqn.2026-12.test:other", 0x23D000000009, "iqn.2026-12.test:target", 1, 1);

    private static byte[] XcopyCdb(int listLength)
    {
        var cdb = new byte[16];
        cdb[0] = 0x83;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), (uint)listLength);
        return cdb;
    }

    private static byte[] RcrCdb(byte serviceAction, byte listId, int allocation = 1024)
    {
        var cdb = new byte[16];
        cdb[0] = 0x84;
        cdb[1] = serviceAction;
        cdb[2] = listId;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), (uint)allocation);
        return cdb;
    }

    /// <summary>The unit's NAA designator from VPD page 83h, as an identification CSCD descriptor (E4h) carries it.</summary>
    private static async Task<byte[]> NaaOf(ILogicalUnit lu)
    {
        var (r, page) = await In(lu, Cdbs.Inquiry(true, 0x83, 255), 255);
        AssertGood(r);
        Assert.Equal(0x03, page[5] & 0x0F); // the first designator is the NAA one
        return page.AsSpan(8, page[7]).ToArray();
    }

    private static byte[] Cscd(byte[] naa, int blockLength = 512, byte type = 0xE4, byte peripheral = 0)
    {
        var d = new byte[32];
        d[0] = type;
        d[1] = peripheral;
        d[4] = 0x01;         // code set: binary
        d[5] = 0x03;         // association: logical unit; designator type: NAA
        d[7] = (byte)naa.Length;
        naa.CopyTo(d, 8);
        d[29] = (byte)(blockLength >> 16);
        d[30] = (byte)(blockLength >> 8);
        d[31] = (byte)blockLength;
        return d;
    }

    private static byte[] BlockSegment(int source, int destination, ushort blocks, ulong sourceLba, ulong destinationLba, byte type = 0x02)
    {
        var d = new byte[28];
        d[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), 24);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(4), (ushort)source);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(6), (ushort)destination);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(10), blocks);
        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(12), sourceLba);
        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(20), destinationLba);
        return d;
    }

    private static byte[] OffsetSegment(int source, int destination, uint bytes, ulong sourceLba, ulong destinationLba, ushort sourceOffset, ushort destinationOffset)
    {
        var d = new byte[32];
        d[0] = 0x0A;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), 28);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(4), (ushort)source);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(6), (ushort)destination);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(8), bytes);
        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(12), sourceLba);
        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(20), destinationLba);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(28), sourceOffset);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(30), destinationOffset);
        return d;
    }

    private static byte[] ParameterList(byte listId, int usage, byte[][] cscds, byte[][] segments)
    {
        int cscdLength = cscds.Sum(c => c.Length), segmentLength = segments.Sum(s => s.Length);
        var list = new byte[16 + cscdLength + segmentLength];
        list[0] = listId;
        list[1] = (byte)(usage << 3);
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), (ushort)cscdLength);
        BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(8), (uint)segmentLength);
        int p = 16;
        foreach (var d in cscds.Concat(segments)) { d.CopyTo(list, p); p += d.Length; }
        return list;
    }

    private static async Task<ScsiCommandResult> Xcopy(ILogicalUnit lu, byte[] list, IEnumerable<ILogicalUnit>? units = null, ItNexus? nexus = null) =>
        await lu.ExecuteAsync(new FakeScsiTask(XcopyCdb(list.Length), dataOut: list, nexus: nexus) { LogicalUnitsOfTarget = units ?? [] }, default);

    [Fact]
    public async Task Blocks_are_copied_within_a_logical_unit_and_the_status_is_kept_for_its_list_id_once()
    {
        await using var lu = RamLu(8L << 20);
        var data = Pattern(64 * 512, 3);
        await WriteBlocks(lu, 0, data);
        var naa = await NaaOf(lu);
        AssertGood(await Xcopy(lu, ParameterList(7, 0, [Cscd(naa)], [BlockSegment(0, 0, 64, 0, 4000)])));
        Assert.Equal(data, await ReadBlocks(lu, 4000, 64));

        var (r, status) = await In(lu, RcrCdb(0x00, 7), 12);
        AssertGood(r);
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(status));
        Assert.Equal(0x01, status[4] & 0x7F);                                  // completed without errors
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(status.AsSpan(5))); // segments processed
        Assert.Equal(0, status[7]);                                            // transfer count in bytes
        Assert.Equal(64u * 512, BinaryPrimitives.ReadUInt32BigEndian(status.AsSpan(8)));
        AssertInvalidFieldInCdb((await In(lu, RcrCdb(0x00, 7), 12)).Result, 2); // reported once
    }

    [Fact]
    public async Task Blocks_are_copied_between_two_logical_units_of_the_target_and_a_foreign_one_is_unreachable()
    {
        await using var a = RamLu(4L << 20, options: new BlockDeviceOptions { BlockSize = 512, Identity = "a" });
        await using var b = RamLu(4L << 20, options: new BlockDeviceOptions { BlockSize = 512, Identity = "b" });
        await using var foreign = RamLu(4L << 20, options: new BlockDeviceOptions { BlockSize = 512, Identity = "elsewhere" });
        var data = Pattern(16 * 512, 4);
        await WriteBlocks(a, 100, data);
        var list = ParameterList(1, 2, [Cscd(await NaaOf(a)), Cscd(await NaaOf(b))], [BlockSegment(0, 1, 16, 100, 200)]);
        AssertGood(await Xcopy(a, list, [a, b]));
        Assert.Equal(data, await ReadBlocks(b, 200, 16));

        // A designator of a logical unit the target does not have: COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE.
        var toForeign = ParameterList(1, 2, [Cscd(await NaaOf(a)), Cscd(await NaaOf(foreign))], [BlockSegment(0, 1, 16, 100, 200)]);
        AssertSense(await Xcopy(a, toForeign, [a, b]), 0x0A, 0x0D, 0x02);
        Assert.Equal(new byte[16 * 512], await ReadBlocks(foreign, 200, 16));
    }

    [Fact]
    public async Task A_byte_offset_segment_copies_exactly_those_bytes_and_leaves_the_rest_of_the_blocks_alone()
    {
        await using var lu = RamLu(4L << 20);
        var source = Pattern(8 * 512, 5);
        var before = Pattern(8 * 512, 6);
        await WriteBlocks(lu, 2, source);
        await WriteBlocks(lu, 100, before);
        var naa = await NaaOf(lu);
        AssertGood(await Xcopy(lu, ParameterList(2, 0, [Cscd(naa)], [OffsetSegment(0, 0, 1000, 2, 100, 100, 300)])));
        var after = await ReadBlocks(lu, 100, 8);
        var expected = before.ToArray();
        source.AsSpan(100, 1000).CopyTo(expected.AsSpan(300));
        Assert.Equal(expected, after);
    }

    [Fact]
    public async Task Parameter_list_errors_are_answered_with_their_sense_and_copy_nothing()
    {
        await using var lu = RamLu(4L << 20);
        var naa = await NaaOf(lu);
        var limits = lu.CopyLimits;
        byte[] segment = BlockSegment(0, 0, 8, 0, 100);
        var tooManyCscds = Enumerable.Repeat(Cscd(naa), limits.MaxCscdDescriptors + 1).ToArray();
        AssertSense(await Xcopy(lu, ParameterList(1, 2, tooManyCscds, [segment])), 0x05, 0x26, 0x06);
        var tooManySegments = Enumerable.Repeat(segment, limits.MaxSegmentDescriptors + 1).ToArray();
        AssertSense(await Xcopy(lu, ParameterList(1, 2, [Cscd(naa)], tooManySegments)), 0x05, 0x26, 0x08);
        AssertSense(await Xcopy(lu, ParameterList(1, 2, [Cscd(naa, type: 0xE0)], [segment])), 0x05, 0x26, 0x07);
        AssertSense(await Xcopy(lu, ParameterList(1, 2, [Cscd(naa)], [BlockSegment(0, 0, 8, 0, 100, type: 0x00)])), 0x05, 0x26, 0x09);
        var whole = ParameterList(1, 2, [Cscd(naa)], [segment]);
        AssertSense(await Xcopy(lu, whole[..^1]), 0x05, 0x1A, 0x00);           // a segment cut short
        AssertSense(await Xcopy(lu, whole[..(16 + 31)]), 0x05, 0x1A, 0x00);    // a CSCD descriptor cut short
        AssertGood(await lu.ExecuteAsync(new FakeScsiTask(XcopyCdb(0)), default)); // nothing to copy

        long last = lu.BlockCount - 1;
        var beyond = AssertSense(await Xcopy(lu, ParameterList(1, 2, [Cscd(naa)], [segment, BlockSegment(0, 0, 8, 0, (ulong)last)])), 0x0A, 0x00, 0x00);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(beyond.AsSpan(8))); // the second segment (index 1) failed
        AssertSense(await Xcopy(lu, ParameterList(1, 2, [Cscd(naa)], [BlockSegment(0, 1, 8, 0, 100)])), 0x0A, 0x08, 0x04); // no CSCD 1
    }

    [Fact]
    public async Task A_reserved_destination_refuses_the_copy_with_reservation_conflict()
    {
        await using var lu = RamLu(4L << 20);
        var naa = await NaaOf(lu);
        var register = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(register.AsSpan(8), 0x55);
        AssertGood(await lu.ExecuteAsync(new FakeScsiTask([0x5F, 0, 0, 0, 0, 0, 0, 0, 24, 0], dataOut: register, nexus: Other), default));
        var reserve = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(reserve, 0x55);
        AssertGood(await lu.ExecuteAsync(new FakeScsiTask([0x5F, 1, 1, 0, 0, 0, 0, 0, 24, 0], dataOut: reserve, nexus: Other), default)); // write exclusive
        var result = await Xcopy(lu, ParameterList(1, 2, [Cscd(naa)], [BlockSegment(0, 0, 8, 0, 100)]));
        Assert.Equal(ScsiStatus.ReservationConflict, result.Status);
    }

    [Fact]
    public async Task The_copy_manager_is_announced_in_inquiry_the_third_party_copy_page_and_the_operating_parameters()
    {
        await using var lu = RamLu();
        var (_, standard) = await In(lu, Cdbs.Inquiry(false, 0, 96), 96);
        Assert.Equal(0x08, standard[5] & 0x08); // 3PC

        var (r, page) = await In(lu, Cdbs.Inquiry(true, 0x8F, 255), 255);
        AssertGood(r);
        Assert.Equal(0x8F, page[1]);
        Assert.Equal(0x0001, BinaryPrimitives.ReadUInt16BigEndian(page.AsSpan(4)));  // Supported Commands
        Assert.Equal(new byte[] { 0x83, 1, 0x00, 0x84, 2, 0x00, 0x03 }, page.AsSpan(9, page[8]).ToArray());
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(page.AsSpan(2)) % 4);

        var (op, parameters) = await In(lu, RcrCdb(0x03, 0), 255);
        AssertGood(op);
        Assert.Equal(lu.CopyLimits.MaxCscdDescriptors, BinaryPrimitives.ReadUInt16BigEndian(parameters.AsSpan(8)));
        Assert.Equal(lu.CopyLimits.MaxSegmentDescriptors, BinaryPrimitives.ReadUInt16BigEndian(parameters.AsSpan(10)));
        Assert.Equal((uint)lu.CopyLimits.MaxDescriptorListLength, BinaryPrimitives.ReadUInt32BigEndian(parameters.AsSpan(12)));
        Assert.Equal(new byte[] { 0x02, 0x0A, 0xE4 }, parameters.AsSpan(44, parameters[43]).ToArray());
    }
}
