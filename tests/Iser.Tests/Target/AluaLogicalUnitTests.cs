using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;
using Iser.Tests.ScsiTarget;

namespace Iser.Tests.Target;

/// <summary>
/// ALUA at the logical unit, without a wire: a unit outside a target with ALUA offers none of it; the command filter of
/// each state (SPC-4 §5.15.2.4); AsymmetricAccessStates' own rules (group 0, unknown groups, a change that is none).
/// </summary>
public class AluaLogicalUnitTests
{
    private static readonly ItNexus ThroughGroup2 = new("iqn.2026-12.test:initiator", 0x23D000000002, "iqn.2026-12.test:target", 2, 2);

    [Fact]
    public async Task Outside_a_target_with_alua_the_unit_reports_no_tpgs_no_port_designators_and_no_target_port_group_commands()
    {
        await using var lu = LuHarness.RamLu();
        var (std, d) = await LuHarness.In(lu, [0x12, 0, 0, 0, 96, 0], 96);
        Assert.Equal(ScsiStatus.Good, std.Status);
        Assert.Equal(0x00, d[5] & 0x30);
        var (vpd, page) = await LuHarness.In(lu, [0x12, 0x01, 0x83, 0x01, 0x00, 0], 256);
        Assert.Equal(ScsiStatus.Good, vpd.Status);
        Assert.DoesNotContain(Designators(page), x => (x.Association, x.Type) is (1, 4) or (1, 5));
        var rtpg = (await LuHarness.In(lu, [0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0], 1024)).Result;
        Assert.Equal((byte)0x24, SenseData.Parse(rtpg.Sense.Span).Asc);
        var stpg = await LuHarness.Out(lu, [0xA4, 0x0A, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], new byte[8]);
        Assert.Equal((byte)0x20, SenseData.Parse(stpg.Sense.Span).Asc); // INVALID COMMAND OPERATION CODE
        var (all, list) = await LuHarness.In(lu, [0xA3, 0x0C, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0], 16384);
        Assert.Equal(ScsiStatus.Good, all.Status);
        var rows = Rows(list);
        Assert.DoesNotContain(rows, r => r.Opcode == 0xA4 || (r.Opcode == 0xA3 && r.ServiceAction == 0x0A));
        Assert.Contains(rows, r => r.Opcode == 0xA3 && r.ServiceAction == 0x0C);
    }

    [Fact]
    public async Task In_a_target_with_alua_the_full_list_has_each_target_port_group_command_once_in_order()
    {
        await using var lu = LuHarness.RamLu();
        var alua = new AsymmetricAccessStates();
        alua.AddGroup(1);
        var task = new FakeScsiTask([0xA3, 0x0C, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0], expectedDataIn: 16384) { AccessStates = alua };
        var result = await lu.ExecuteAsync(task, CancellationToken.None);
        Assert.Equal(ScsiStatus.Good, result.Status);
        var rows = Rows(task.SentData(result));
        Assert.Single(rows, r => r.Opcode == 0xA3 && r.ServiceAction == 0x0A);
        Assert.Single(rows, r => r.Opcode == 0xA4 && r.ServiceAction == 0x0A);
        var keys = rows.Select(r => r.Opcode << 16 | r.ServiceAction).ToList();
        Assert.Equal(keys.Order().ToList(), keys);
    }

    [Theory]
    // opcode, service action, refused in standby, refused in unavailable/transitioning
    [InlineData(0x00, 0, true, true)]    // TEST UNIT READY
    [InlineData(0x28, 0, true, true)]    // READ(10)
    [InlineData(0x2A, 0, true, true)]    // WRITE(10)
    [InlineData(0x25, 0, true, true)]    // READ CAPACITY(10)
    [InlineData(0x35, 0, true, true)]    // SYNCHRONIZE CACHE(10)
    [InlineData(0x12, 0, false, false)]  // INQUIRY
    [InlineData(0xA0, 0, false, false)]  // REPORT LUNS
    [InlineData(0x03, 0, false, false)]  // REQUEST SENSE
    [InlineData(0xA3, 0x0A, false, false)] // REPORT TARGET PORT GROUPS
    [InlineData(0xA3, 0x0C, false, false)] // REPORT SUPPORTED OPERATION CODES
    [InlineData(0xA4, 0x0A, false, false)] // SET TARGET PORT GROUPS
    [InlineData(0x1A, 0, false, true)]   // MODE SENSE(6)
    [InlineData(0x55, 0, false, true)]   // MODE SELECT(10)
    [InlineData(0x4D, 0, false, true)]   // LOG SENSE
    [InlineData(0x4C, 0, false, true)]   // LOG SELECT
    [InlineData(0x5E, 0, false, true)]   // PERSISTENT RESERVE IN
    [InlineData(0x5F, 0, false, true)]   // PERSISTENT RESERVE OUT
    [InlineData(0x1C, 0, false, true)]   // RECEIVE DIAGNOSTIC RESULTS
    [InlineData(0x1D, 0, false, true)]   // SEND DIAGNOSTIC
    public void Each_state_lets_through_what_spc4_allows(byte opcode, byte serviceAction, bool refusedInStandby, bool refusedWhenUnavailable)
    {
        byte[] cdb = [opcode, serviceAction, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Null(AccessStateCommandFilter.Refusal(AluaState.ActiveOptimized, cdb));
        Assert.Null(AccessStateCommandFilter.Refusal(AluaState.ActiveNonOptimized, cdb));
        Assert.Equal(refusedInStandby ? new SenseCondition(0x02, 0x04, 0x0B) : null, AccessStateCommandFilter.Refusal(AluaState.Standby, cdb));
        Assert.Equal(refusedWhenUnavailable ? new SenseCondition(0x02, 0x04, 0x0C) : null, AccessStateCommandFilter.Refusal(AluaState.Unavailable, cdb));
        Assert.Equal(refusedWhenUnavailable ? new SenseCondition(0x02, 0x04, 0x0A) : null, AccessStateCommandFilter.Refusal(AluaState.Transitioning, cdb));
    }

    [Fact]
    public async Task A_standby_group_refuses_read_with_target_port_in_standby_and_request_sense_says_so()
    {
        await using var lu = LuHarness.RamLu();
        var alua = new AsymmetricAccessStates();
        alua.AddGroup(1);
        alua.AddGroup(2);
        alua.SetState(2, AluaState.Standby);
        var read = new FakeScsiTask(Cdbs.Read16(0, 1), expectedDataIn: 512, nexus: ThroughGroup2) { AccessStates = alua };
        var refused = await lu.ExecuteAsync(read, CancellationToken.None);
        Assert.Equal(ScsiStatus.CheckCondition, refused.Status);
        Assert.Equal(new byte[] { 0x02, 0x04, 0x0B }, new[] { (byte)(refused.Sense.Span[2] & 0x0F), refused.Sense.Span[12], refused.Sense.Span[13] });
        var viaGroup1 = new FakeScsiTask(Cdbs.Read16(0, 1), expectedDataIn: 512) { AccessStates = alua };
        Assert.Equal(ScsiStatus.Good, (await lu.ExecuteAsync(viaGroup1, CancellationToken.None)).Status);
        var sense = new FakeScsiTask([0x03, 0, 0, 0, 18, 0], expectedDataIn: 18, nexus: ThroughGroup2) { AccessStates = alua };
        var result = await lu.ExecuteAsync(sense, CancellationToken.None);
        var data = sense.SentData(result);
        Assert.Equal(new byte[] { 0x70, 0x02, 0x04, 0x0B }, new[] { data[0], data[2], data[12], data[13] });
    }

    [Fact]
    public void The_access_states_refuse_group_0_and_unknown_groups_and_report_only_real_changes()
    {
        var alua = new AsymmetricAccessStates();
        var zero = Assert.Throws<ArgumentOutOfRangeException>(() => alua.AddGroup(0));
        Assert.Contains("relative target port identifier 0", zero.Message);
        alua.AddGroup(1);
        alua.AddGroup(2);
        alua.AddGroup(2);
        Assert.Equal([1, 2], alua.Groups.Select(g => (int)g.Id));
        var unknown = Assert.Throws<ArgumentException>(() => alua.SetState(3, AluaState.Standby));
        Assert.Contains("no target port group 3", unknown.Message);
        int changes = 0;
        alua.Changed += _ => changes++;
        Assert.True(alua.AllActive);
        alua.SetState(2, AluaState.ActiveNonOptimized);
        Assert.True(alua.AllActive);
        alua.SetState(2, AluaState.ActiveNonOptimized);
        Assert.Equal(1, changes);
        alua.SetState(1, AluaState.Unavailable);
        Assert.False(alua.AllActive);
        Assert.Equal(AluaState.Unavailable, alua.StateOf(1));
        Assert.Equal(2, changes);
        alua.SetState(1, AluaState.ActiveOptimized);
        Assert.True(alua.AllActive);
    }

    private static List<(int Association, int Type)> Designators(byte[] page)
    {
        var found = new List<(int, int)>();
        int end = 4 + BinaryPrimitives.ReadUInt16BigEndian(page.AsSpan(2));
        for (int p = 4; p + 4 <= end; p += 4 + page[p + 3]) found.Add(((page[p + 1] >> 4) & 3, page[p + 1] & 0x0F));
        return found;
    }

    private static List<(byte Opcode, ushort ServiceAction)> Rows(byte[] list)
    {
        var rows = new List<(byte, ushort)>();
        for (int p = 4; p + 8 <= list.Length; p += 8) rows.Add((list[p], BinaryPrimitives.ReadUInt16BigEndian(list.AsSpan(p + 2))));
        return rows;
    }
}
