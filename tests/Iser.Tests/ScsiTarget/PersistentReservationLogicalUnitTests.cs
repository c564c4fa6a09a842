using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;
using Iser.Core.Scsi.Target.Stores;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>
/// Reservations through the block logical unit: commands from two I_T nexuses, PERSISTENT RESERVE IN/OUT,
/// RESERVE/RELEASE(6)/(10), resets, and the APTPL state file.
/// </summary>
public sealed class PersistentReservationLogicalUnitTests
{
    private static readonly ItNexus A = new("iqn.2026-12.test:host-a", 0x23D000000001, "iqn.2026-12.test:target", 1, 1);
    private static readonly ItNexus B = new("iqn.2026-12.test:host-b", 0x23D000000002, "iqn.2026-12.test:target", 1, 1);
    private const ulong KeyA = 0xA1A2A3A4A5A6A7A8;
    private const ulong KeyB = 0xB1B2B3B4B5B6B7B8;
    private const byte WriteExclusive = 1;
    private const byte ExclusiveAccess = 3;

    // ---- commands ----

    private static async Task<ScsiCommandResult> Run(ILogicalUnit lu, ItNexus nexus, byte[] cdb, byte[]? dataOut = null) =>
        await lu.ExecuteAsync(new FakeScsiTask(cdb, dataOut: dataOut, nexus: nexus), CancellationToken.None);

    private static async Task<(ScsiCommandResult Result, byte[] Data)> RunIn(ILogicalUnit lu, ItNexus nexus, byte[] cdb, int expected)
    {
        var task = new FakeScsiTask(cdb, expectedDataIn: expected, nexus: nexus);
        var result = await lu.ExecuteAsync(task, CancellationToken.None);
        return (result, result.Status == ScsiStatus.Good ? task.SentData(result) : []);
    }

    private static byte[] PrOutCdb(byte serviceAction, byte type = 0, int listLength = 24) =>
        [0x5F, serviceAction, type, 0, 0, (byte)(listLength >> 24), (byte)(listLength >> 16), (byte)(listLength >> 8), (byte)listLength, 0];

    private static byte[] PrOutList(ulong key, ulong serviceActionKey, bool aptpl = false)
    {
        var list = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        if (aptpl) list[20] = 0x01;
        return list;
    }

    private static byte[] PrInCdb(byte serviceAction, ushort allocation = 1024) =>
        [0x5E, serviceAction, 0, 0, 0, 0, 0, (byte)(allocation >> 8), (byte)allocation, 0];

    private static Task<ScsiCommandResult> Register(ILogicalUnit lu, ItNexus nexus, ulong key, bool aptpl = false) =>
        Run(lu, nexus, PrOutCdb(0x00), PrOutList(0, key, aptpl));

    private static Task<ScsiCommandResult> Reserve(ILogicalUnit lu, ItNexus nexus, ulong key, byte type) =>
        Run(lu, nexus, PrOutCdb(0x01, type), PrOutList(key, 0));

    private static Task<ScsiCommandResult> Release(ILogicalUnit lu, ItNexus nexus, ulong key, byte type) =>
        Run(lu, nexus, PrOutCdb(0x02, type), PrOutList(key, 0));

    private static Task<ScsiCommandResult> Write(ILogicalUnit lu, ItNexus nexus) =>
        Run(lu, nexus, Cdbs.Write16(0, 1), Pattern(lu.BlockSize, 7));

    private static async Task<ScsiCommandResult> Read(ILogicalUnit lu, ItNexus nexus) =>
        (await RunIn(lu, nexus, Cdbs.Read16(0, 1), lu.BlockSize)).Result;

    private static void AssertConflict(ScsiCommandResult result)
    {
        Assert.Equal(ScsiStatus.ReservationConflict, result.Status);
        Assert.Equal(0x18, (byte)result.Status);
        Assert.True(result.Sense.IsEmpty, "RESERVATION CONFLICT carries no sense data");
    }

    private static async Task<BlockDeviceLogicalUnit> TwoRegisteredOneWriteExclusive()
    {
        var lu = RamLu();
        AssertGood(await Register(lu, A, KeyA));
        AssertGood(await Register(lu, B, KeyB));
        AssertGood(await Reserve(lu, A, KeyA, WriteExclusive));
        return lu;
    }

    // ---- tests ----

    [Fact]
    public async Task Write_exclusive_holder_writes_the_other_registrant_reads_but_may_not_write()
    {
        await using var lu = await TwoRegisteredOneWriteExclusive();
        AssertGood(await Write(lu, A));
        AssertConflict(await Write(lu, B));
        AssertGood(await Read(lu, B));
        AssertGood(await Read(lu, A));
        // The conflict is found before any write data moves.
        var task = new FakeScsiTask(Cdbs.Write10(0, 1), dataOut: Pattern(lu.BlockSize, 1), nexus: B);
        AssertConflict(await lu.ExecuteAsync(task, CancellationToken.None));
        Assert.Equal(0, task.DataOutRequests);
        // Commands every nexus may send under any reservation.
        AssertGood(await Run(lu, B, Cdbs.TestUnitReady()));
        AssertGood((await RunIn(lu, B, Cdbs.Inquiry(false, 0, 96), 96)).Result);
    }

    [Fact]
    public async Task Exclusive_access_keeps_the_other_nexus_from_reading_too()
    {
        await using var lu = RamLu();
        AssertGood(await Register(lu, A, KeyA));
        AssertGood(await Reserve(lu, A, KeyA, ExclusiveAccess));
        AssertConflict(await Read(lu, B));
        AssertConflict(await Write(lu, B));
        AssertGood(await Read(lu, A));
    }

    [Fact]
    public async Task Read_keys_and_read_reservation_report_the_registrations_and_the_holder()
    {
        await using var lu = await TwoRegisteredOneWriteExclusive();

        var (keys, k) = await RunIn(lu, B, PrInCdb(0x00), 1024);
        AssertGood(keys);
        var expectedKeys = new byte[8 + 16];
        BinaryPrimitives.WriteUInt32BigEndian(expectedKeys, 2);            // PRgeneration: two registrations
        BinaryPrimitives.WriteUInt32BigEndian(expectedKeys.AsSpan(4), 16); // ADDITIONAL LENGTH
        BinaryPrimitives.WriteUInt64BigEndian(expectedKeys.AsSpan(8), KeyA);
        BinaryPrimitives.WriteUInt64BigEndian(expectedKeys.AsSpan(16), KeyB);
        Assert.Equal(expectedKeys, k);

        var (reservation, r) = await RunIn(lu, B, PrInCdb(0x01), 1024);
        AssertGood(reservation);
        var expectedReservation = new byte[8 + 16];
        BinaryPrimitives.WriteUInt32BigEndian(expectedReservation, 2);     // RESERVE leaves PRgeneration alone
        BinaryPrimitives.WriteUInt32BigEndian(expectedReservation.AsSpan(4), 16);
        BinaryPrimitives.WriteUInt64BigEndian(expectedReservation.AsSpan(8), KeyA);
        expectedReservation[8 + 13] = WriteExclusive;                       // SCOPE 0 (LU), TYPE 1
        Assert.Equal(expectedReservation, r);

        // The allocation length cuts the report; the length fields still tell the whole.
        var (cut, c) = await RunIn(lu, A, PrInCdb(0x00, 12), 12);
        AssertGood(cut);
        Assert.Equal(12, cut.DataInLength);
        Assert.Equal(expectedKeys[..12], c);
    }

    [Fact]
    public async Task Report_capabilities_says_ptpl_capable_only_with_a_state_file()
    {
        await using var lu = RamLu();
        var (r, d) = await RunIn(lu, A, PrInCdb(0x02), 8);
        AssertGood(r);
        Assert.Equal(8, BinaryPrimitives.ReadUInt16BigEndian(d));
        Assert.Equal(0x0C, d[2]);      // SIP_C, ATP_C; PTPL_C 0
        Assert.Equal(0x80, d[3] & 0x80); // TMV

        using var dir = new TempDirectory();
        await using var capable = FileLu(dir, "disk");
        var (r2, d2) = await RunIn(capable, A, PrInCdb(0x02), 8);
        AssertGood(r2);
        Assert.Equal(0x0D, d2[2]);     // SIP_C, ATP_C, PTPL_C
    }

    [Fact]
    public async Task Release_by_the_holder_lets_the_other_nexus_write()
    {
        await using var lu = await TwoRegisteredOneWriteExclusive();
        // A registrant that does not hold the reservation releases nothing (GOOD).
        AssertGood(await Release(lu, B, KeyB, WriteExclusive));
        AssertConflict(await Write(lu, B));
        // The holder naming another type: INVALID RELEASE OF PERSISTENT RESERVATION.
        AssertSense(await Release(lu, A, KeyA, ExclusiveAccess), 0x05, 0x26, 0x04);
        AssertGood(await Release(lu, A, KeyA, WriteExclusive));
        AssertGood(await Write(lu, B));
        var (_, r) = await RunIn(lu, A, PrInCdb(0x01), 1024);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(r.AsSpan(4))); // no reservation
    }

    [Fact]
    public async Task Reserving_with_a_wrong_key_or_unregistered_conflicts()
    {
        await using var lu = RamLu();
        AssertGood(await Register(lu, A, KeyA));
        AssertConflict(await Reserve(lu, A, KeyB, WriteExclusive));
        AssertConflict(await Reserve(lu, B, KeyB, WriteExclusive));
        AssertConflict(await Run(lu, B, PrOutCdb(0x00), PrOutList(KeyB, KeyB))); // REGISTER from an unregistered nexus with a key
    }

    [Fact]
    public async Task Reserve6_conflicts_while_registrations_exist()
    {
        await using var lu = RamLu();
        AssertGood(await Register(lu, A, KeyA));
        AssertConflict(await Run(lu, A, [0x16, 0, 0, 0, 0, 0]));
        AssertConflict(await Run(lu, B, [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        AssertConflict(await Run(lu, A, [0x17, 0, 0, 0, 0, 0]));
    }

    [Fact]
    public async Task Reserve6_keeps_the_unit_to_its_nexus_until_release()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, [0x16, 0, 0, 0, 0, 0]));
        AssertGood(await Run(lu, A, [0x16, 0, 0, 0, 0, 0]));          // again, by the holder: GOOD
        AssertConflict(await Run(lu, B, [0x16, 0, 0, 0, 0, 0]));
        AssertConflict(await Run(lu, B, [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        AssertConflict(await Read(lu, B));
        AssertConflict(await Write(lu, B));
        AssertConflict(await Run(lu, B, Cdbs.TestUnitReady()));
        AssertConflict((await RunIn(lu, B, PrInCdb(0x00), 1024)).Result);
        AssertConflict(await Register(lu, A, KeyA));                  // PR OUT conflicts with a RESERVE, even from its holder
        AssertGood((await RunIn(lu, B, Cdbs.Inquiry(false, 0, 96), 96)).Result);
        AssertGood(await Write(lu, A));

        AssertGood(await Run(lu, B, [0x17, 0, 0, 0, 0, 0]));          // RELEASE by another nexus: GOOD, nothing released
        AssertConflict(await Write(lu, B));
        AssertGood(await Run(lu, A, [0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0])); // RELEASE(10) by the holder
        AssertGood(await Write(lu, B));
    }

    [Fact]
    public async Task Reserve_refuses_third_party_and_extents()
    {
        await using var lu = RamLu();
        AssertInvalidFieldInCdb(await Run(lu, A, [0x16, 0x10, 0, 0, 0, 0]), 1);
        AssertInvalidFieldInCdb(await Run(lu, A, [0x16, 0x01, 0, 0, 0, 0]), 1);
        AssertInvalidFieldInCdb(await Run(lu, A, [0x56, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]), 1);
        AssertGood(await Write(lu, B));                                // nothing was reserved
    }

    [Fact]
    public async Task A_reset_releases_reserve6_but_not_a_persistent_reservation()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, [0x16, 0, 0, 0, 0, 0]));
        lu.Reset(LogicalUnitResetKind.LogicalUnitReset);
        AssertGood(await Write(lu, B));                                // B had sent nothing before: no unit attention
        AssertSense(await Run(lu, A, Cdbs.TestUnitReady()), 0x06, 0x29, 0x03); // A is told: BUS DEVICE RESET FUNCTION OCCURRED

        AssertGood(await Register(lu, A, KeyA));
        AssertGood(await Reserve(lu, A, KeyA, ExclusiveAccess));
        lu.Reset(LogicalUnitResetKind.TargetWarmReset);
        AssertSense(await Read(lu, B), 0x06, 0x29, 0x00);            // the unit attention first, once
        AssertConflict(await Read(lu, B));
    }

    [Fact]
    public async Task Nexus_loss_releases_its_reserve6_but_not_a_persistent_reservation()
    {
        await using var lu = RamLu();
        AssertGood(await Run(lu, A, [0x16, 0, 0, 0, 0, 0]));
        lu.OnNexusLoss(B);
        AssertConflict(await Write(lu, B));
        lu.OnNexusLoss(A);
        AssertGood(await Write(lu, B));

        AssertGood(await Register(lu, A, KeyA));
        AssertGood(await Reserve(lu, A, KeyA, ExclusiveAccess));
        lu.OnNexusLoss(A);
        AssertConflict(await Read(lu, B));
        Assert.Equal(1, lu.Reservations.RegistrationCount);
    }

    [Fact]
    public async Task Aptpl_without_a_state_file_is_invalid_field_in_parameter_list()
    {
        await using var lu = RamLu();
        var sense = AssertSense(await Register(lu, A, KeyA, aptpl: true), 0x05, 0x26, 0x00);
        Assert.Equal(0x80, sense[15] & 0xC0);                         // SKSV, C/D 0: the parameter list
        Assert.Equal(0x08 | 0x00, sense[15] & 0x0F);                  // BPV, bit 0
        Assert.Equal(20, BinaryPrimitives.ReadUInt16BigEndian(sense.AsSpan(16)));
        Assert.Equal(0, lu.Reservations.RegistrationCount);
    }

    [Fact]
    public async Task Aptpl_state_survives_a_new_logical_unit_over_the_same_state_file()
    {
        using var dir = new TempDirectory();
        string stateFile = Path.Combine(dir.Path, "disk.pr");
        await using (var lu = FileLu(dir, "disk"))
        {
            AssertGood(await Register(lu, A, KeyA, aptpl: true));
            Assert.True(File.Exists(stateFile));
            // The APTPL bit of the last REGISTER counts for the whole state (SPC-4 §5.13.5): B keeps it on.
            AssertGood(await Register(lu, B, KeyB, aptpl: true));
            AssertGood(await Reserve(lu, A, KeyA, WriteExclusive));
        }

        await using (var again = FileLu(dir, "disk"))
        {
            Assert.True(again.Reservations.PersistThroughPowerLoss);
            // Power on with registrations restored: each registrant is told on its first command (SPC-4 §5.14).
            AssertSense(await Run(again, A, Cdbs.TestUnitReady()), 0x06, 0x29, 0x00);
            AssertSense(await Run(again, B, Cdbs.TestUnitReady()), 0x06, 0x29, 0x00);
            var (_, k) = await RunIn(again, A, PrInCdb(0x00), 1024);
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(k));      // PRgeneration restarts at 0
            Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(k.AsSpan(4)));
            Assert.Equal(KeyA, BinaryPrimitives.ReadUInt64BigEndian(k.AsSpan(8)));
            Assert.Equal(KeyB, BinaryPrimitives.ReadUInt64BigEndian(k.AsSpan(16)));
            var (_, r) = await RunIn(again, B, PrInCdb(0x01), 1024);
            Assert.Equal(KeyA, BinaryPrimitives.ReadUInt64BigEndian(r.AsSpan(8)));
            Assert.Equal(WriteExclusive, r[8 + 13] & 0x0F);
            var (_, caps) = await RunIn(again, A, PrInCdb(0x02), 8);
            Assert.Equal(0x01, caps[3] & 0x01);                             // PTPL_A
            AssertConflict(await Write(again, B));
            AssertGood(await Write(again, A));

            // Turning APTPL off (re-registering with APTPL 0) deletes the file: power loss would keep nothing.
            AssertGood(await Run(again, A, PrOutCdb(0x00), PrOutList(KeyA, KeyA)));
            Assert.False(File.Exists(stateFile));
        }

        await using var third = FileLu(dir, "disk");
        Assert.Equal(0, third.Reservations.RegistrationCount);
        AssertGood(await Write(third, B));
    }

    [Fact]
    public async Task Without_aptpl_nothing_is_saved_and_a_new_unit_starts_empty()
    {
        using var dir = new TempDirectory();
        await using (var lu = FileLu(dir, "disk"))
        {
            AssertGood(await Register(lu, A, KeyA));
            AssertGood(await Reserve(lu, A, KeyA, ExclusiveAccess));
        }
        Assert.False(File.Exists(Path.Combine(dir.Path, "disk.pr")));
        await using var again = FileLu(dir, "disk");
        AssertGood(await Read(again, B));
    }

    [Fact]
    public void A_damaged_state_file_is_refused_at_construction()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(Path.Combine(dir.Path, "disk.pr"), [1, 2, 3]);
        Assert.Throws<InvalidDataException>(() => FileLu(dir, "disk"));
    }

    [Fact]
    public async Task Persistent_reserve_out_checks_the_cdb_before_fetching_data()
    {
        await using var lu = RamLu();
        var badScope = new FakeScsiTask(PrOutCdb(0x01, 0x10 | WriteExclusive), dataOut: PrOutList(KeyA, 0), nexus: A);
        AssertInvalidFieldInCdb(await lu.ExecuteAsync(badScope, CancellationToken.None), 2);
        Assert.Equal(0, badScope.DataOutRequests);
        var badAction = new FakeScsiTask(PrOutCdb(0x08), dataOut: PrOutList(KeyA, 0), nexus: A);
        AssertInvalidFieldInCdb(await lu.ExecuteAsync(badAction, CancellationToken.None), 1);
        Assert.Equal(0, badAction.DataOutRequests);
        // A parameter list shorter than 24 bytes.
        AssertSense(await Run(lu, A, PrOutCdb(0x00, listLength: 16), new byte[16]), 0x05, 0x1A, 0x00);
    }

    [Fact]
    public async Task Report_supported_operation_codes_lists_the_reservation_commands()
    {
        await using var lu = RamLu();
        var (r, d) = await In(lu, Cdbs.ReportSupportedOpcodes(0), 65535);
        AssertGood(r);
        var entries = new List<(byte Opcode, ushort? Action)>();
        for (int p = 4; p < d.Length; p += 8)
            entries.Add((d[p], (d[p + 5] & 0x01) != 0 ? BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(p + 2)) : null));
        foreach (byte op in new byte[] { 0x16, 0x17, 0x56, 0x57 })
            Assert.Contains((op, (ushort?)null), entries);
        for (ushort sa = 0; sa <= 7; sa++)
            Assert.Contains(((byte)0x5F, (ushort?)sa), entries);
        for (ushort sa = 0; sa <= 3; sa++)
            Assert.Contains(((byte)0x5E, (ushort?)sa), entries);

        var (one, od) = await In(lu, Cdbs.ReportSupportedOpcodes(2, 0x5F, 1), 65535);
        AssertGood(one);
        Assert.Equal(0x03, od[1] & 0x07);
        Assert.Equal(new byte[] { 0x5F, 1, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0 }, od[4..14]);
    }

    // ---- helpers ----

    private static BlockDeviceLogicalUnit FileLu(TempDirectory dir, string name)
    {
        string data = Path.Combine(dir.Path, name);
        var store = FileBackingStore.Open(data, 1 << 20);
        try
        {
            return new BlockDeviceLogicalUnit(store, new BlockDeviceOptions { Identity = "test-lu", PersistentReservationFile = data + ".pr" });
        }
        catch
        {
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    private sealed class TempDirectory : IDisposable
    {
        public TempDirectory() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "iser-pr-" + Guid.NewGuid().ToString("N")));
        public string Path { get; }
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>REGISTER AND MOVE names its destination's relative target port; in a target those are its portal
    /// groups (the ALUA groups), so a port the target does not have is refused and one it has is taken.</summary>
    [Fact]
    public async Task Register_and_move_to_a_target_port_the_target_lacks_is_refused_and_to_one_it_has_is_taken()
    {
        await using var lu = RamLu();
        var ports = new Iser.Core.Scsi.Target.Alua.AsymmetricAccessStates();
        ports.AddGroup(1);
        ports.AddGroup(2);
        async Task<ScsiCommandResult> Move(ushort port)
        {
            byte[] list = RegisterAndMoveList(KeyA, KeyB, port, $"{B.InitiatorName},i,0x{B.Isid:x12}");
            var task = new FakeScsiTask(PrOutCdb(0x07, WriteExclusive, list.Length), dataOut: list, nexus: A) { AccessStates = ports };
            return await lu.ExecuteAsync(task, CancellationToken.None);
        }
        AssertGood(await Register(lu, A, KeyA));
        AssertGood(await Reserve(lu, A, KeyA, WriteExclusive));

        var refused = await Move(3);
        Assert.Equal(ScsiStatus.CheckCondition, refused.Status);
        var sense = SenseData.Parse(refused.Sense.Span);
        Assert.Equal((0x26, 0x00), (sense.Asc, sense.Ascq)); // INVALID FIELD IN PARAMETER LIST
        AssertGood(await Move(2));
        // B's port behind group 2 now holds the reservation with B's key; A is still registered (no UNREG).
        var (_, held) = await RunIn(lu, A, PrInCdb(0x01), 1024);
        Assert.Equal(KeyB, BinaryPrimitives.ReadUInt64BigEndian(held.AsSpan(8)));
    }

    /// <summary>REGISTER AND MOVE's parameter list (SPC-4 §6.16.4): keys, RTPI, one iSCSI TransportID of format 01b.</summary>
    private static byte[] RegisterAndMoveList(ulong key, ulong serviceActionKey, ushort relativeTargetPort, string initiatorPort)
    {
        int nameLength = (System.Text.Encoding.ASCII.GetByteCount(initiatorPort) + 1 + 3) / 4 * 4; // null-terminated, padded to 4
        var list = new byte[24 + 4 + nameLength];
        BinaryPrimitives.WriteUInt64BigEndian(list, key);
        BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), serviceActionKey);
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(18), relativeTargetPort);
        BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(20), (uint)(4 + nameLength));
        list[24] = 0x45; // format 01b, protocol 5h (iSCSI)
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(26), (ushort)nameLength);
        System.Text.Encoding.ASCII.GetBytes(initiatorPort, list.AsSpan(28));
        return list;
    }
}
