using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>
/// Unit attention conditions of the block logical unit, per I_T nexus (SAM-5 §5.14, SPC-4 §5.14): which events
/// establish which condition for whom, reported once as CHECK CONDITION (UNIT ATTENTION) on the next command, oldest
/// first; INQUIRY and REPORT LUNS neither report nor clear one; REQUEST SENSE returns it as data and clears it.
/// </summary>
public sealed class UnitAttentionTests
{
    private static readonly ItNexus A = new("iqn.2026-12.test:host-a", 0x23D000000001, "iqn.2026-12.test:target", 1, 1);
    private static readonly ItNexus B = new("iqn.2026-12.test:host-b", 0x23D000000002, "iqn.2026-12.test:target", 1, 1);
    private static readonly byte[] Tur = Cdbs.TestUnitReady();

    private static async Task<ScsiCommandResult> Run(ILogicalUnit lu, ItNexus nexus, byte[] cdb, byte[]? dataOut = null) =>
        await lu.ExecuteAsync(new FakeScsiTask(cdb, dataOut: dataOut, nexus: nexus), CancellationToken.None);

    private static async Task<(ScsiCommandResult Result, byte[] Data)> RunIn(ILogicalUnit lu, ItNexus nexus, byte[] cdb, int expected)
    {
        var task = new FakeScsiTask(cdb, expectedDataIn: expected, nexus: nexus);
        var result = await lu.ExecuteAsync(task, CancellationToken.None);
        return (result, result.Status == ScsiStatus.Good ? task.SentData(result) : []);
    }

    private static async Task AssertAttention(ILogicalUnit lu, ItNexus nexus, byte asc, byte ascq)
    {
        AssertSense(await Run(lu, nexus, Tur), 0x06, asc, ascq);
        AssertGood(await Run(lu, nexus, Tur)); // reported once: cleared by the report
    }

    [Fact]
    public async Task A_nexus_that_forms_after_start_is_not_told_of_the_start()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, Tur));
        Assert.Empty(lu.UnitAttentions.PendingFor(A));
    }

    [Fact]
    public async Task A_logical_unit_reset_tells_every_known_nexus_once_and_a_later_one_not_at_all()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, Tur));
        AssertGood(await Run(lu, B, Tur));
        lu.Reset(LogicalUnitResetKind.LogicalUnitReset);
        var c = new ItNexus("iqn.2026-12.test:host-c", 0x23D000000003, "iqn.2026-12.test:target", 1, 1);
        AssertGood(await Run(lu, c, Tur)); // formed after the reset
        await AssertAttention(lu, A, 0x29, 0x03);   // BUS DEVICE RESET FUNCTION OCCURRED
        // A read is refused with it just the same, and moves no data.
        var (result, data) = await RunIn(lu, B, Cdbs.Read10(0, 1), 512);
        AssertSense(result, 0x06, 0x29, 0x03);
        Assert.Empty(data);
        AssertGood((await RunIn(lu, B, Cdbs.Read10(0, 1), 512)).Result);
    }

    [Theory]
    [InlineData(LogicalUnitResetKind.TargetWarmReset)]
    [InlineData(LogicalUnitResetKind.TargetColdReset)]
    public async Task A_target_reset_reports_power_on_reset_or_bus_device_reset(LogicalUnitResetKind kind)
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, Tur));
        lu.Reset(kind);
        await AssertAttention(lu, A, 0x29, 0x00);
    }

    [Fact]
    public async Task Inquiry_and_report_luns_neither_report_nor_clear_it_and_request_sense_returns_and_clears_it()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, Tur));
        lu.Reset(LogicalUnitResetKind.LogicalUnitReset);
        AssertGood((await RunIn(lu, A, Cdbs.Inquiry(false, 0, 96), 96)).Result);
        AssertGood((await RunIn(lu, A, Cdbs.ReportLuns(256), 256)).Result);
        Assert.Single(lu.UnitAttentions.PendingFor(A));

        var (result, sense) = await RunIn(lu, A, Cdbs.RequestSense(18), 18);
        AssertGood(result);
        Assert.Equal(0x70, sense[0] & 0x7F);
        Assert.Equal((0x06, 0x29, 0x03), (sense[2] & 0x0F, (int)sense[12], (int)sense[13]));
        AssertGood(await Run(lu, A, Tur));
        var (_, none) = await RunIn(lu, A, Cdbs.RequestSense(18), 18);
        Assert.Equal((0x00, 0x00, 0x00), (none[2] & 0x0F, (int)none[12], (int)none[13])); // NO SENSE now
    }

    [Fact]
    public async Task Mode_select_tells_the_other_nexuses_that_mode_parameters_changed()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, Tur));
        AssertGood(await Run(lu, B, Tur));
        var (_, caching) = await RunIn(lu, A, Cdbs.ModeSense6(0x08, dbd: true), 255);
        caching[0] = 0;
        caching[4 + 2] &= 0xFB; // WCE off
        AssertGood(await Run(lu, A, Cdbs.ModeSelect6((byte)caching.Length), caching));
        AssertGood(await Run(lu, A, Tur));          // not the one that changed them
        await AssertAttention(lu, B, 0x2a, 0x01);  // MODE PARAMETERS CHANGED
    }

    [Fact]
    public async Task A_change_of_the_lun_inventory_is_reported_and_report_luns_clears_it_without_reporting()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, Tur));
        AssertGood(await Run(lu, B, Tur));
        lu.OnLunInventoryChanged();
        await AssertAttention(lu, A, 0x3f, 0x0e);  // REPORTED LUNS DATA HAS CHANGED
        AssertGood((await RunIn(lu, B, Cdbs.ReportLuns(256), 256)).Result);
        AssertGood(await Run(lu, B, Tur));          // REPORT LUNS cleared it
    }

    [Fact]
    public async Task Conditions_are_reported_one_per_command_oldest_first()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, Tur));
        lu.Reset(LogicalUnitResetKind.LogicalUnitReset);
        lu.OnTasksClearedByAnotherInitiator(A);
        lu.OnLunInventoryChanged();
        AssertSense(await Run(lu, A, Tur), 0x06, 0x29, 0x03);
        AssertSense(await Run(lu, A, Tur), 0x06, 0x2f, 0x00); // COMMANDS CLEARED BY ANOTHER INITIATOR
        AssertSense(await Run(lu, A, Tur), 0x06, 0x3f, 0x0e);
        AssertGood(await Run(lu, A, Tur));
    }

    [Fact]
    public async Task Persistent_reservation_changes_tell_the_registrants_they_affect()
    {
        const ulong keyA = 0xAA, keyB = 0xBB;
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, PrOut(0x00, 0), PrList(0, keyA)));        // REGISTER
        AssertGood(await Run(lu, B, PrOut(0x00, 0), PrList(0, keyB)));
        AssertGood(await Run(lu, B, PrOut(0x01, 5), PrList(keyB, 0)));        // RESERVE, write exclusive registrants only
        AssertGood(await Run(lu, B, PrOut(0x02, 5), PrList(keyB, 0)));        // RELEASE: the other registrants are told
        await AssertAttention(lu, A, 0x2a, 0x04);                            // RESERVATIONS RELEASED
        AssertGood(await Run(lu, B, Tur));                                   // not the one that released

        AssertGood(await Run(lu, B, PrOut(0x01, 1), PrList(keyB, 0)));        // RESERVE, write exclusive
        AssertGood(await Run(lu, A, PrOut(0x04, 1), PrList(keyA, keyB)));     // PREEMPT B
        await AssertAttention(lu, B, 0x2a, 0x05);                            // REGISTRATIONS PREEMPTED
        AssertGood(await Run(lu, A, PrOut(0x03, 0), PrList(keyA, 0)));        // CLEAR
        AssertGood(await Run(lu, A, Tur));
    }

    [Fact]
    public async Task Registrants_restored_at_power_on_are_told_on_their_first_command_and_no_one_else()
    {
        string dir = Directory.CreateTempSubdirectory("iser-ua-").FullName;
        try
        {
            await PowerOnWithRestoredRegistrant(Path.Combine(dir, "disk.pr"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Growing_the_logical_unit_tells_every_known_nexus_and_serves_the_new_blocks()
    {
        await using var lu = RamLu(1L << 20); // 2048 blocks
        AssertGood(await Run(lu, A, Tur));
        AssertGood(await Run(lu, B, Tur));
        var block = Pattern(512, 9);
        AssertLbaOutOfRange(await Run(lu, A, Cdbs.Write16(4095, 1), block));

        await lu.GrowAsync(4096);
        Assert.Equal(4096, lu.BlockCount);
        await AssertAttention(lu, A, 0x2a, 0x09);                          // CAPACITY DATA HAS CHANGED
        AssertSense((await RunIn(lu, B, Cdbs.ReadCapacity16(), 32)).Result, 0x06, 0x2a, 0x09);
        var (capacity, data) = await RunIn(lu, B, Cdbs.ReadCapacity16(), 32);
        AssertGood(capacity);
        Assert.Equal(4095UL, BinaryPrimitives.ReadUInt64BigEndian(data));  // the last LBA
        var (capacity10, data10) = await RunIn(lu, B, Cdbs.ReadCapacity10(), 8);
        AssertGood(capacity10);
        Assert.Equal(4095U, BinaryPrimitives.ReadUInt32BigEndian(data10));

        AssertGood(await Run(lu, A, Cdbs.Write16(4095, 1), block));
        var (read, back) = await RunIn(lu, A, Cdbs.Read16(4095, 1), 512);
        AssertGood(read);
        Assert.Equal(block, back);
        AssertLbaOutOfRange(await Run(lu, A, Cdbs.Write16(4096, 1), block));

        var shrink = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => lu.GrowAsync(2048).AsTask());
        Assert.Contains("not shrink", shrink.Message);
        await using var fixedSize = new BlockDeviceLogicalUnit(new Iser.Core.Scsi.Target.Stores.NullBackingStore(1L << 20), new BlockDeviceOptions { BlockSize = 512 });
        var refused = await Assert.ThrowsAsync<NotSupportedException>(() => fixedSize.GrowAsync(4096).AsTask());
        Assert.Contains("cannot grow", refused.Message);
    }

    private static async Task PowerOnWithRestoredRegistrant(string stateFile)
    {
        var options = new BlockDeviceOptions { BlockSize = 512, Identity = "pr", PersistentReservationFile = stateFile };
        await using (var lu = RamLu(options: options))
            AssertGood(await Run(lu, A, PrOut(0x00, 0), PrList(0, 0xAA, aptpl: true)));
        await using var again = RamLu(options: options);
        AssertGood(await Run(again, B, Tur));
        await AssertAttention(again, A, 0x29, 0x00);
    }

    private static byte[] PrOut(byte serviceAction, byte type) => [0x5F, serviceAction, type, 0, 0, 0, 0, 0, 24, 0];

    private static byte[] PrList(ulong key, ulong serviceActionKey, bool aptpl = false)
    {
        var list = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        if (aptpl) list[20] = 0x01;
        return list;
    }
}
