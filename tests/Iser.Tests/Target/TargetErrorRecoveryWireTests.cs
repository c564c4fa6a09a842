using System.Buffers.Binary;
using System.Net;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Core.Iscsi.Text;
using Iser.Tests.Initiator;
using Iser.Tests.Recovery;
using Iser.Transport.Tcp;
using Xunit.Abstractions;

namespace Iser.Tests.Target;

/// <summary>
/// The target's ErrorRecoveryLevel 1 (RFC 7143 §6–7, §11.16) checked byte by byte on the wire: a scripted initiator
/// (<see cref="RawIscsiConnection"/>) logs in without digests, runs commands against a logical unit that counts what it
/// executes, then sends SNACKs of every type, retried commands and acknowledgements, keeping ExpStatSN where each case
/// needs it. What the target sends back is compared with what it first sent; the logical unit must have run each
/// command once.
/// </summary>
public sealed class TargetErrorRecoveryWireTests(ITestOutputHelper output)
{
    private const string Iqn = "iqn.2026-11.org.iser.test:erl1wire";
    private const int BlockSize = 512;
    private const int DiskBlocks = 4096; // 2 MiB
    private const byte Read10 = 0x28, Write10 = 0x2a;
    private const int QueueDepth = 128; // IscsiTargetOptions default: MaxCmdSN = ExpCmdSN + 127 when nothing is outstanding
    private const int KiB = 1024;

    // ---------------------------------------------------------------------------------------------------------------
    // 1. Negotiation
    // ---------------------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(1, 1, "1")]
    [InlineData(2, 1, "1")] // above what the target implements: its maximum
    [InlineData(0, 1, "0")]
    [InlineData(1, 0, "0")] // a target configured for level 0 answers 0 to an offer of 1
    public async Task ErrorRecoveryLevel_is_answered_with_the_lower_of_the_offer_and_the_targets_maximum(int offered, int targetMax, string answered)
    {
        await using var rig = await Rig.StartAsync(output, offeredErl: offered, targetErl: targetMax);
        var keys = TextKeyValueCodec.Parse(rig.Login.Data.Span);
        Assert.Contains(new TextKeyValue("ErrorRecoveryLevel", answered), keys);
        Assert.Single(keys, k => k.Key == "ErrorRecoveryLevel");

        // And the connection acts on the level answered: a DataACK for no task is taken silently at level 1 (nothing
        // to free), refused as not supported at level 0.
        var ack = Rig.Snack(SnackType.DataAck, 0x1234, 0x5678, begRun: 1, runLength: 0, expStatSN: rig.FirstStatSN);
        byte[] ackBhs = ack.Bhs.ToArray();
        rig.Send(ack);
        var answer = (await rig.PingAsync(expStatSN: rig.FirstStatSN)).Before;
        if (answered == "1") Assert.Empty(answer);
        else AssertReject(Assert.Single(answer), RejectReason.CommandNotSupported, ackBhs);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 2. Status SNACK
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Status_snack_resends_the_scsi_response_with_its_first_StatSN_and_the_current_window_without_running_the_write_again()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var write = await rig.RunAsync(rig.Write(lba: 64, Pattern(8 * BlockSize, seed: 3), expStatSN: s0));
        var response = Assert.Single(write.Pdus);
        Assert.Equal(IscsiOpcode.ScsiResponse, response.Opcode);
        Assert.Equal(s0, response.Field24);
        Assert.Equal(0, response.Bhs[3]); // GOOD
        uint expCmdSNThen = response.Field28;

        // Another command moves the CmdSN window on; the status stays unacknowledged (ExpStatSN stays at s0).
        var nop = await rig.PingAsync(expStatSN: s0, immediate: false);
        Assert.Empty(nop.Before);
        Assert.Equal(expCmdSNThen + 1, nop.NopIn.Field28);

        rig.Send(Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: s0, runLength: 1, expStatSN: s0));
        var again = Assert.Single((await rig.PingAsync(expStatSN: s0)).Before);
        AssertResentAsFirstSent(response, again, rig);
        Assert.Equal(expCmdSNThen + 1, again.Field28); // the current ExpCmdSN, not the one of the first send
        Assert.Equal(1, rig.Unit.Executed(Write10));
        Assert.Equal(Pattern(8 * BlockSize, seed: 3), rig.Disk.Blocks(64, 8).ToArray());
    }

    [Fact]
    public async Task Status_snack_with_RunLength_0_resends_every_kept_response_from_BegRun_in_order_sense_and_residual_included()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var write = await rig.RunAsync(rig.Write(lba: 0, Pattern(4 * BlockSize, seed: 5), expStatSN: s0));
        // READ past the end of the disk: CHECK CONDITION with sense data, no data, underflow of the whole EDTL.
        var failed = await rig.RunAsync(rig.Read(lba: DiskBlocks, blocks: 8, expStatSN: s0));
        var good = Assert.Single(write.Pdus);
        var check = Assert.Single(failed.Pdus);
        Assert.Equal(IscsiOpcode.ScsiResponse, check.Opcode);
        Assert.Equal(s0 + 2, check.Field24); // s0 + 1 went to the NOP-In of RunAsync's barrier ping
        Assert.Equal(0x02, check.Bhs[3]); // CHECK CONDITION
        Assert.Equal(0x80 | 0x02, check.Flags); // U: residual underflow
        Assert.Equal(8u * BlockSize, check.Field44);
        Assert.True(check.Data.Length > 2); // SenseLength + sense

        rig.Send(Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: s0, runLength: 0, expStatSN: s0));
        var again = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.Equal(2, again.Count);
        AssertResentAsFirstSent(good, again[0], rig);
        AssertResentAsFirstSent(check, again[1], rig);

        // RunLength 1 from the second: that one only.
        rig.Send(Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: check.Field24, runLength: 1, expStatSN: s0));
        AssertResentAsFirstSent(check, Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), rig);
        Assert.Equal(1, rig.Unit.Executed(Write10));
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 3. Data SNACK
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Data_snack_resends_exactly_the_data_in_of_its_run_as_first_sent_and_the_status_pdu_only_when_in_the_run()
    {
        await using var rig = await Rig.StartAsync(output); // MaxRecvDataSegmentLength 256 KiB, MaxBurstLength 1 MiB
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 2048, expStatSN: s0));
        var first = read.Pdus;
        Assert.Equal(4, first.Count);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(IscsiOpcode.DataIn, first[i].Opcode);
            Assert.Equal((uint)i, first[i].Field36);
            Assert.Equal((uint)(i * 256 * KiB), first[i].Field40);
            Assert.Equal(rig.Disk.Blocks(i * 512, 512).ToArray(), first[i].Data.ToArray());
        }
        Assert.Equal(0x80 | 0x01, first[3].Flags); // F, S: the status rides in the last Data-In
        Assert.Equal(s0, first[3].Field24);

        rig.Send(Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 1, runLength: 2, expStatSN: s0));
        var run = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.Equal([1u, 2u], run.Select(p => p.Field36));
        AssertResentAsFirstSent(first[1], run[0], rig);
        AssertResentAsFirstSent(first[2], run[1], rig);
        Assert.All(run, p => Assert.Equal(0, p.Flags & 0x01)); // the status PDU was not in the run

        // RunLength 0: from BegRun to the end, which includes the status PDU with its first StatSN.
        rig.Send(Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 2, runLength: 0, expStatSN: s0));
        var rest = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.Equal([2u, 3u], rest.Select(p => p.Field36));
        AssertResentAsFirstSent(first[2], rest[0], rig);
        AssertResentAsFirstSent(first[3], rest[1], rig);
        Assert.Equal(s0, rest[1].Field24);
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 4. R-Data SNACK
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task RData_snack_resends_all_data_in_then_a_scsi_response_echoing_the_snack_tag_with_the_first_StatSN()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 2048, expStatSN: s0));
        Assert.Equal(4, read.Pdus.Count);
        Assert.Equal(s0, read.Pdus[3].Field24);

        const uint snackTag = 0x5eed0001;
        rig.Send(Rig.Snack(SnackType.RData, read.Itt, snackTag, begRun: 0, runLength: 0, expStatSN: s0));
        var again = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.Equal(5, again.Count);
        for (int i = 0; i < 4; i++)
        {
            var d = again[i];
            Assert.Equal(IscsiOpcode.DataIn, d.Opcode);
            Assert.Equal(read.Itt, d.InitiatorTaskTag);
            Assert.Equal((uint)i, d.Field36);
            Assert.Equal((uint)(i * 256 * KiB), d.Field40);
            Assert.Equal(0, d.Flags & 0x01); // no status in the data: the SCSI Response below carries it
            Assert.Equal(read.Pdus[i].Data.ToArray(), d.Data.ToArray());
        }
        Assert.Equal(0x80, again[3].Flags & 0x80);
        var response = again[4];
        Assert.Equal(IscsiOpcode.ScsiResponse, response.Opcode);
        Assert.Equal(read.Itt, response.InitiatorTaskTag);
        Assert.Equal(snackTag, response.Field20); // SNACK Tag (RFC 7143 §11.4.9)
        Assert.Equal(s0, response.Field24); // the task's first StatSN
        Assert.Equal(0, response.Bhs[2]); // command completed at target
        Assert.Equal(0, response.Bhs[3]); // GOOD
        Assert.Equal(0x80, response.Flags); // no residual
        Assert.Equal(4u, response.Field36); // ExpDataSN: the Data-In sent
        Assert.Equal(0u, response.Field44);
        Assert.Equal(0, response.DataSegmentLength);
        Assert.Equal(rig.CmdSN, response.Field28);
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 5. DataACK
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task At_level_1_each_data_in_closing_a_burst_but_the_last_asks_for_a_DataACK_with_a_target_transfer_tag()
    {
        await using var rig = await Rig.StartAsync(output, maxBurstLength: 64 * KiB);
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 512, expStatSN: rig.FirstStatSN)); // 256 KiB: four bursts
        var d = read.Pdus;
        Assert.Equal(4, d.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0x80 | 0x40, d[i].Flags); // F (burst ends) and A
            Assert.NotEqual(Pdu.ReservedTag, d[i].Field20);
            Assert.Equal((uint)(i * 64 * KiB), d[i].Field40);
            Assert.Equal(64 * KiB, d[i].DataSegmentLength);
        }
        Assert.Equal(3, d.Take(3).Select(p => p.Field20).Distinct().Count());
        Assert.Equal(0x80 | 0x01, d[3].Flags); // the last: F and S, no A
        Assert.Equal(Pdu.ReservedTag, d[3].Field20);
    }

    [Fact]
    public async Task At_level_0_no_data_in_asks_for_a_DataACK()
    {
        await using var rig = await Rig.StartAsync(output, offeredErl: 0, maxBurstLength: 64 * KiB);
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 512, expStatSN: rig.FirstStatSN));
        Assert.Equal(4, read.Pdus.Count);
        Assert.All(read.Pdus, p =>
        {
            Assert.Equal(0, p.Flags & 0x40);
            Assert.Equal(Pdu.ReservedTag, p.Field20);
            Assert.Equal(0x80, p.Flags & 0x80); // every burst still ends with F
        });
    }

    [Fact]
    public async Task DataACK_is_accepted_silently_and_a_later_data_snack_below_it_is_rejected_as_a_protocol_error()
    {
        await using var rig = await Rig.StartAsync(output, maxBurstLength: 64 * KiB);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 512, expStatSN: s0));
        var d = read.Pdus;

        // DataACK for the first two bursts: TTT of the Data-In that asked, BegRun = the next DataSN.
        rig.Send(Rig.Snack(SnackType.DataAck, read.Itt, d[1].Field20, begRun: 2, runLength: 0, expStatSN: s0));
        Assert.Empty((await rig.PingAsync(expStatSN: s0)).Before);

        var below = Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 1, runLength: 1, expStatSN: s0);
        byte[] belowBhs = below.Bhs.ToArray();
        rig.Send(below);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), RejectReason.ProtocolError, belowBhs);

        // What was not acknowledged can still be asked for.
        rig.Send(Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 2, runLength: 1, expStatSN: s0));
        var two = Assert.Single((await rig.PingAsync(expStatSN: s0)).Before);
        Assert.Equal(IscsiOpcode.DataIn, two.Opcode);
        Assert.Equal(2u, two.Field36);
        Assert.Equal((uint)(128 * KiB), two.Field40);
        Assert.Equal(d[2].Data.ToArray(), two.Data.ToArray());
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    [Fact]
    public async Task Data_snack_with_BegRun_0_and_RunLength_0_after_a_DataACK_resends_the_unacknowledged_data_in()
    {
        // RFC 7143 §11.16.3: BegRun 0 with RunLength 0 means "resend all unacknowledged Data-In": after a DataACK up to
        // DataSN 2 that is DataSN 2 and 3 (the status PDU, with its first StatSN), not a protocol error.
        await using var rig = await Rig.StartAsync(output, maxBurstLength: 64 * KiB);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 512, expStatSN: s0));
        rig.Send(Rig.Snack(SnackType.DataAck, read.Itt, read.Pdus[1].Field20, begRun: 2, runLength: 0, expStatSN: s0));
        Assert.Empty((await rig.PingAsync(expStatSN: s0)).Before);

        rig.Send(Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 0, runLength: 0, expStatSN: s0));
        var again = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.True(again.All(p => p.Opcode == IscsiOpcode.DataIn),
            $"expected Data-In DataSN 2 and 3 again, got: {string.Join(", ", again.Select(p => $"{p.Opcode} reason=0x{p.Bhs[2]:x2}"))}");
        Assert.Equal([2u, 3u], again.Select(p => p.Field36));
        Assert.Equal(read.Pdus[2].Data.ToArray(), again[0].Data.ToArray());
        AssertResentAsFirstSent(read.Pdus[3], again[1], rig);
    }

    [Fact]
    public async Task DataACK_beyond_the_data_in_sent_is_rejected_as_an_invalid_DataACK()
    {
        await using var rig = await Rig.StartAsync(output, maxBurstLength: 64 * KiB);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 512, expStatSN: s0)); // DataSN 0..3 sent
        var ack = Rig.Snack(SnackType.DataAck, read.Itt, read.Pdus[2].Field20, begRun: 9, runLength: 0, expStatSN: s0);
        byte[] ackBhs = ack.Bhs.ToArray();
        rig.Send(ack);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), RejectReason.InvalidDataAck, ackBhs);
    }

    [Fact]
    public async Task Data_snack_resends_a_burst_closing_data_in_as_an_exact_replica_its_A_bit_and_target_transfer_tag_included()
    {
        // RFC 7143 §11.16: Data-In requested by a Data SNACK are "exact replicas" of the first send, except ExpCmdSN and MaxCmdSN.
        await using var rig = await Rig.StartAsync(output, maxBurstLength: 64 * KiB);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 512, expStatSN: s0));
        rig.Send(Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 0, runLength: 1, expStatSN: s0));
        var again = Assert.Single((await rig.PingAsync(expStatSN: s0)).Before);
        Assert.Equal(DataInFields(read.Pdus[0]), DataInFields(again));
        AssertResentAsFirstSent(read.Pdus[0], again, rig);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 6. Acknowledgement
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Once_ExpStatSN_passes_a_status_a_status_snack_for_it_is_rejected_as_a_protocol_error_quoting_the_snack()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var write = await rig.RunAsync(rig.Write(lba: 8, Pattern(BlockSize, seed: 9), expStatSN: s0));
        Assert.Equal(s0, Assert.Single(write.Pdus).Field24);

        // A NOP-Out whose ExpStatSN is past the response acknowledges it.
        Assert.Empty((await rig.PingAsync(expStatSN: s0 + 1)).Before);
        var snack = Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: s0, runLength: 1, expStatSN: s0 + 1);
        byte[] snackBhs = snack.Bhs.ToArray();
        rig.Send(snack);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0 + 1)).Before), RejectReason.ProtocolError, snackBhs);
    }

    [Fact]
    public async Task A_snack_whose_own_ExpStatSN_acknowledges_the_reads_status_is_rejected_for_data_and_for_rdata()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 64, expStatSN: s0));
        Assert.Equal(s0, read.Pdus[^1].Field24);

        var data = Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 0, runLength: 0, expStatSN: s0 + 1);
        byte[] dataBhs = data.Bhs.ToArray();
        rig.Send(data);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0 + 1)).Before), RejectReason.ProtocolError, dataBhs);

        var rdata = Rig.Snack(SnackType.RData, read.Itt, 0x77, begRun: 0, runLength: 0, expStatSN: s0 + 1);
        byte[] rdataBhs = rdata.Bhs.ToArray();
        rig.Send(rdata);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0 + 1)).Before), RejectReason.ProtocolError, rdataBhs);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 7. Retried commands
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_retried_read_is_answered_with_its_data_and_status_again_under_the_first_StatSN_and_runs_once()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var command = rig.Read(lba: 0, blocks: 2048, expStatSN: s0);
        var read = await rig.RunAsync(command);
        Assert.Equal(4, read.Pdus.Count);
        Assert.Equal(s0, read.Pdus[3].Field24);
        Assert.True(SerialLess(command.CmdSN, read.Pdus[3].Field28)); // the CmdSN is now below ExpCmdSN

        rig.Send(command.Build()); // the same SCSI Command PDU: same ITT, CmdSN, CDB
        var again = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.Equal(4, again.Count);
        for (int i = 0; i < 4; i++) AssertResentAsFirstSent(read.Pdus[i], again[i], rig);
        Assert.Equal(s0, again[3].Field24);
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    [Fact]
    public async Task A_retried_write_is_answered_with_its_response_again_under_the_first_StatSN_and_writes_once()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var command = rig.Write(lba: 200, Pattern(16 * BlockSize, seed: 11), expStatSN: s0);
        var write = await rig.RunAsync(command);
        var response = Assert.Single(write.Pdus);
        Assert.Equal(s0, response.Field24);

        rig.Send(command.Build());
        var again = Assert.Single((await rig.PingAsync(expStatSN: s0)).Before);
        AssertResentAsFirstSent(response, again, rig);
        Assert.Equal(1, rig.Unit.Executed(Write10));
        Assert.Equal(Pattern(16 * BlockSize, seed: 11), rig.Disk.Blocks(200, 16).ToArray());
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 8. Level 0
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task At_level_0_a_snack_of_any_type_is_rejected_as_command_not_supported()
    {
        await using var rig = await Rig.StartAsync(output, offeredErl: 0);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 2048, expStatSN: s0));
        foreach (var (type, itt, begRun) in new[]
        {
            (SnackType.DataR2T, read.Itt, 1u), (SnackType.Status, Pdu.ReservedTag, s0), (SnackType.DataAck, read.Itt, 1u), (SnackType.RData, read.Itt, 0u),
        })
        {
            var snack = Rig.Snack(type, itt, type == SnackType.RData ? 0x99u : 0, begRun, runLength: type == SnackType.DataR2T ? 1u : 0, expStatSN: s0);
            byte[] bhs = snack.Bhs.ToArray();
            rig.Send(snack);
            AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), RejectReason.CommandNotSupported, bhs);
        }
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    [Fact]
    public async Task At_level_0_a_repeated_command_below_ExpCmdSN_is_silently_ignored_and_not_run_again()
    {
        await using var rig = await Rig.StartAsync(output, offeredErl: 0);
        uint s0 = rig.FirstStatSN;
        var read = rig.Read(lba: 0, blocks: 64, expStatSN: s0);
        await rig.RunAsync(read);
        var write = rig.Write(lba: 300, Pattern(2 * BlockSize, seed: 13), expStatSN: s0);
        await rig.RunAsync(write);

        rig.Send(read.Build());
        rig.Send(write.Build());
        Assert.Empty((await rig.PingAsync(expStatSN: s0)).Before);
        Assert.Equal(1, rig.Unit.Executed(Read10));
        Assert.Equal(1, rig.Unit.Executed(Write10));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // More of the same rules: what was never sent, status in Data-In, writes still waiting for data
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Status_snack_across_the_StatSN_wrap_resends_the_responses_on_both_sides_of_it()
    {
        await using var rig = await Rig.StartAsync(output, loginExpStatSN: 0xffff_fffe); // login 0xfffffffe, then 0xffffffff, 0, 1
        uint s0 = rig.FirstStatSN;
        Assert.Equal(0xffff_ffffu, s0);
        var before = Assert.Single((await rig.RunAsync(rig.Write(lba: 0, Pattern(BlockSize, seed: 21), expStatSN: s0))).Pdus);
        var after = Assert.Single((await rig.RunAsync(rig.Write(lba: 1, Pattern(BlockSize, seed: 23), expStatSN: s0))).Pdus);
        Assert.Equal(0xffff_ffffu, before.Field24);
        Assert.Equal(1u, after.Field24); // 0 went to the NOP-In of RunAsync's barrier ping

        rig.Send(Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: s0, runLength: 0, expStatSN: s0));
        var again = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.Equal(2, again.Count);
        AssertResentAsFirstSent(before, again[0], rig);
        AssertResentAsFirstSent(after, again[1], rig);

        // ExpStatSN 1 acknowledges 0xffffffff (and 0) across the wrap: only the second is kept.
        rig.Send(Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: s0, runLength: 0, expStatSN: 1));
        AssertResentAsFirstSent(after, Assert.Single((await rig.PingAsync(expStatSN: 1)).Before), rig);
    }

    [Fact]
    public async Task Status_snack_with_BegRun_0_and_RunLength_0_resends_every_unacknowledged_response()
    {
        // RFC 7143 §11.16.3 (BegRun): "A BegRun of 0, when used in conjunction with a RunLength of 0, means 'resend all
        // unacknowledged Data-In, R2T or Response PDUs'" — wherever StatSN happens to be (here more than 2^31 past 0).
        await using var rig = await Rig.StartAsync(output, loginExpStatSN: 0xa000_0000);
        uint s0 = rig.FirstStatSN;
        var write = Assert.Single((await rig.RunAsync(rig.Write(lba: 0, Pattern(BlockSize, seed: 25), expStatSN: s0))).Pdus);
        Assert.Equal(0xa000_0001u, write.Field24);

        rig.Send(Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: 0, runLength: 0, expStatSN: s0));
        var again = (await rig.PingAsync(expStatSN: s0)).Before;
        Assert.True(again.Count == 1 && again[0].Opcode == IscsiOpcode.ScsiResponse,
            $"expected the SCSI Response (StatSN 0x{write.Field24:x8}) again, got: {string.Join(", ", again.Select(p => $"{p.Opcode} reason=0x{p.Bhs[2]:x2}"))}");
        AssertResentAsFirstSent(write, again[0], rig);
    }

    [Fact]
    public async Task A_snack_for_data_or_status_never_sent_is_rejected_as_a_protocol_error()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 2048, expStatSN: s0)); // DataSN 0..3

        var data = Rig.Snack(SnackType.DataR2T, read.Itt, 0, begRun: 4, runLength: 1, expStatSN: s0);
        byte[] dataBhs = data.Bhs.ToArray();
        rig.Send(data);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), RejectReason.ProtocolError, dataBhs);

        var status = Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: s0 + 50, runLength: 1, expStatSN: s0);
        byte[] statusBhs = status.Bhs.ToArray();
        rig.Send(status);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), RejectReason.ProtocolError, statusBhs);

        var unknown = Rig.Snack(SnackType.DataR2T, 0x0bad0bad, 0, begRun: 0, runLength: 0, expStatSN: s0);
        byte[] unknownBhs = unknown.Bhs.ToArray();
        rig.Send(unknown);
        AssertReject(Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), RejectReason.ProtocolError, unknownBhs);
    }

    [Fact]
    public async Task Status_snack_for_a_status_that_rode_in_a_data_in_resends_that_data_in_with_its_first_StatSN()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 2048, expStatSN: s0));
        var last = read.Pdus[3];
        Assert.Equal(0x81, last.Flags);
        Assert.Equal(s0, last.Field24);

        rig.Send(Rig.Snack(SnackType.Status, Pdu.ReservedTag, 0, begRun: s0, runLength: 1, expStatSN: s0));
        AssertResentAsFirstSent(last, Assert.Single((await rig.PingAsync(expStatSN: s0)).Before), rig);
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    [Fact]
    public async Task R2T_snack_for_a_write_waiting_for_its_data_resends_the_r2t_as_an_exact_replica()
    {
        // RFC 7143 §11.16: R2Ts requested by an R2T SNACK are exact replicas of the first send, except ExpCmdSN,
        // MaxCmdSN and StatSN (bytes 24..35): same Target Transfer Tag, R2TSN, Buffer Offset and Desired Length.
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var data = Pattern(16 * BlockSize, seed: 17);
        var write = rig.Write(lba: 400, data, expStatSN: s0, immediate: false);
        rig.Send(write.Build());
        var r2t = await rig.ExpectR2TAsync(write.Itt);
        Assert.Equal(0u, r2t.Field36); // R2TSN
        Assert.Equal(0u, r2t.Field40);
        Assert.Equal((uint)data.Length, r2t.Field44);

        rig.Send(Rig.Snack(SnackType.DataR2T, write.Itt, 0, begRun: 0, runLength: 0, expStatSN: s0));
        var again = Assert.Single((await rig.PingAsync(expStatSN: s0)).Before);
        Assert.Equal(IscsiOpcode.ReadyToTransfer, again.Opcode);
        Assert.Equal(0u, again.Field40);
        Assert.Equal((uint)data.Length, again.Field44);

        // The write completes on the tag of the R2T sent last, and runs once.
        rig.Send(Rig.DataOut(write.Itt, again.Field20, 0, data, expStatSN: s0));
        var response = await rig.ExpectResponseAsync(write.Itt);
        Assert.Equal(0, response.Bhs[3]);
        Assert.Equal(1, rig.Unit.Executed(Write10));
        Assert.Equal(data, rig.Disk.Blocks(400, 16).ToArray());

        Assert.Equal(R2TFields(r2t), R2TFields(again));
        Assert.Equal(Hex(r2t.Bhs.AsSpan(0, 24)), Hex(again.Bhs.AsSpan(0, 24)));
        Assert.Equal(Hex(r2t.Bhs.AsSpan(36, 12)), Hex(again.Bhs.AsSpan(36, 12)));
    }

    private static string DataInFields(Pdu p) => $"flags=0x{p.Flags:x2} ITT=0x{p.InitiatorTaskTag:x8} TTT=0x{p.Field20:x8} StatSN={p.Field24} DataSN={p.Field36} offset={p.Field40} length={p.DataSegmentLength}";

    private static string R2TFields(Pdu p) => $"flags=0x{p.Flags:x2} ITT=0x{p.InitiatorTaskTag:x8} TTT=0x{p.Field20:x8} R2TSN={p.Field36} offset={p.Field40} length={p.Field44}";

    [Fact]
    public async Task A_retried_write_still_waiting_for_its_data_is_asked_for_the_data_again_and_runs_once()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var data = Pattern(16 * BlockSize, seed: 19);
        var write = rig.Write(lba: 500, data, expStatSN: s0, immediate: false);
        rig.Send(write.Build());
        var r2t = await rig.ExpectR2TAsync(write.Itt);

        // A retry while the sequence is merely slow (it moved less than a second ago) leaves it alone: no R2T again.
        rig.Send(write.Build());
        Assert.Empty((await rig.PingAsync(expStatSN: s0)).Before);
        await Task.Delay(TimeSpan.FromMilliseconds(1100));

        rig.Send(write.Build()); // the retry: same ITT, CmdSN (now below ExpCmdSN) and CDB
        var ping = await rig.PingAsync(expStatSN: s0);
        var again = Assert.Single(ping.Before);
        Assert.Equal(IscsiOpcode.ReadyToTransfer, again.Opcode);
        Assert.Equal(write.Itt, again.InitiatorTaskTag);
        Assert.Equal(r2t.Field40, again.Field40); // the same range: nothing of it arrived
        Assert.Equal(r2t.Field44, again.Field44);
        Assert.NotEqual(Pdu.ReservedTag, again.Field20);

        rig.Send(Rig.DataOut(write.Itt, again.Field20, 0, data, expStatSN: s0));
        var response = await rig.ExpectResponseAsync(write.Itt);
        Assert.Equal(0, response.Bhs[3]);
        Assert.Equal(ping.NopIn.Field24 + 1, response.Field24); // one status, numbered after the NOP-In
        Assert.Equal(1, rig.Unit.Executed(Write10));
        Assert.Equal(data, rig.Disk.Blocks(500, 16).ToArray());
    }

    [Fact]
    public async Task At_level_1_a_command_below_ExpCmdSN_naming_no_kept_task_is_ignored_and_not_run()
    {
        await using var rig = await Rig.StartAsync(output);
        uint s0 = rig.FirstStatSN;
        var read = await rig.RunAsync(rig.Read(lba: 0, blocks: 64, expStatSN: s0));
        var stale = new Command(0x0dd0, CmdSN: rig.CmdSN - 1, ExpStatSN: s0, Read10, Lba: 8, Blocks: 8, WriteData: null); // another ITT, old CmdSN
        rig.Send(stale.Build());
        Assert.Empty((await rig.PingAsync(expStatSN: s0)).Before);
        Assert.Equal(1, rig.Unit.Executed(Read10));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Assertions
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// A numbered PDU sent again: its header equal to the first send except ExpCmdSN and MaxCmdSN (bytes 28..35), which
    /// carry the current window; the same data segment.
    /// </summary>
    private static void AssertResentAsFirstSent(Pdu first, Pdu again, Rig rig)
    {
        Assert.Equal(Hex(first.Bhs.AsSpan(0, 28)), Hex(again.Bhs.AsSpan(0, 28)));
        Assert.Equal(Hex(first.Bhs.AsSpan(36, 12)), Hex(again.Bhs.AsSpan(36, 12)));
        Assert.Equal(first.Data.ToArray(), again.Data.ToArray());
        Assert.Equal(rig.CmdSN, again.Field28); // ExpCmdSN: the next command we would send
        Assert.Equal(rig.CmdSN + QueueDepth - 1, again.Field32); // MaxCmdSN: nothing outstanding, the whole window
    }

    private static void AssertReject(Pdu reject, RejectReason reason, byte[] rejectedBhs)
    {
        Assert.Equal(IscsiOpcode.Reject, reject.Opcode);
        Assert.Equal((byte)reason, reject.Bhs[2]);
        Assert.Equal(Pdu.ReservedTag, reject.InitiatorTaskTag);
        Assert.Equal(Hex(rejectedBhs), Hex(reject.Data.Span)); // the complete header of the rejected PDU
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    private static bool SerialLess(uint a, uint b) => a != b && (int)(a - b) < 0;

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The scripted initiator
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>A SCSI Command as sent once, kept so the very same PDU can be built again for a retry.</summary>
    private sealed record Command(uint Itt, uint CmdSN, uint ExpStatSN, byte Opcode, uint Lba, int Blocks, byte[]? WriteData, bool Immediate = true)
    {
        public Pdu Build()
        {
            bool write = WriteData is not null;
            var pdu = new Pdu { Opcode = IscsiOpcode.ScsiCommand, InitiatorTaskTag = Itt };
            pdu.Flags = (byte)(0x80 | (write ? 0x20 : 0x40) | 0x01); // F, W or R, ATTR simple
            pdu.Lun = 0;
            pdu.Field20 = (uint)(Blocks * BlockSize); // Expected Data Transfer Length
            pdu.Field24 = CmdSN;
            pdu.Field28 = ExpStatSN;
            pdu.Bhs[32] = Opcode;
            BinaryPrimitives.WriteUInt32BigEndian(pdu.Bhs.AsSpan(34), Lba);
            BinaryPrimitives.WriteUInt16BigEndian(pdu.Bhs.AsSpan(39), (ushort)Blocks);
            if (write && Immediate) pdu.SetData(WriteData);
            return pdu;
        }
    }

    /// <summary>What a command got: every PDU for its ITT up to and including the one carrying its status.</summary>
    private sealed record Outcome(uint Itt, List<Pdu> Pdus);

    /// <summary>
    /// An in-process target (one node, LUN 0 = a RAM disk behind an execution counter, no target pings) and one raw
    /// connection logged in straight to full feature phase with the chosen ErrorRecoveryLevel, MaxBurstLength 1 MiB
    /// unless told, MaxRecvDataSegmentLength 256 KiB on our side, no digests. Every PDU it sends names its ExpStatSN
    /// explicitly, so a test decides which statuses are acknowledged.
    /// </summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;
        private uint _nextItt = 0x100;
        private uint _nextPingItt = 0x7000_0000;

        private Rig(ITestOutputHelper output, IscsiTarget target, RamLogicalUnit disk, CountingLogicalUnit unit, CapturedLog log)
        {
            _output = output;
            Target = target;
            Disk = disk;
            Unit = unit;
            Log = log;
        }

        public IscsiTarget Target { get; }
        public RamLogicalUnit Disk { get; }
        public CountingLogicalUnit Unit { get; }
        public CapturedLog Log { get; }
        public RawIscsiConnection C { get; private set; } = null!;
        public Pdu Login { get; private set; } = null!;
        /// <summary>The CmdSN the next non-immediate command takes (= the target's ExpCmdSN once all before it arrived).</summary>
        public uint CmdSN { get; private set; }
        /// <summary>The StatSN the first status after login takes.</summary>
        public uint FirstStatSN => Login.Field24 + 1;

        /// <param name="loginExpStatSN">ExpStatSN of the login request: the target numbers its statuses on from it.</param>
        public static async Task<Rig> StartAsync(ITestOutputHelper output, int offeredErl = 1, int targetErl = 1, int maxBurstLength = 1024 * KiB,
            uint loginExpStatSN = 0)
        {
            var log = new CapturedLog();
            var target = new IscsiTarget(new IscsiTargetOptions { NopInInterval = TimeSpan.Zero, ErrorRecoveryLevel = targetErl }, log.Factory);
            var disk = new RamLogicalUnit(DiskBlocks);
            Pattern(DiskBlocks * BlockSize, seed: 1).CopyTo(disk.Blocks(0, DiskBlocks));
            var unit = new CountingLogicalUnit(disk);
            var node = new TargetNode(Iqn);
            node.AddLun(0, unit);
            target.AddNode(node);
            var listener = new TcpDatamoverListener(new IPEndPoint(IPAddress.Loopback, 0), log.Factory.CreateLogger("Iser.Tcp"));
            target.Listen(listener);
            var rig = new Rig(output, target, disk, unit, log);
            try
            {
                rig.C = await RawIscsiConnection.ConnectAsync(listener.LocalEndPoint);
                rig.C.ExpStatSN = loginExpStatSN;
                rig.Login = await rig.C.LoginAsync(Iqn, "iqn.2026-11.org.iser.test:erl1wire-initiator",
                    new TextKeyValue("HeaderDigest", "None"),
                    new TextKeyValue("DataDigest", "None"),
                    new TextKeyValue("ErrorRecoveryLevel", offeredErl.ToString()),
                    new TextKeyValue("MaxRecvDataSegmentLength", (256 * KiB).ToString()),
                    new TextKeyValue("MaxBurstLength", maxBurstLength.ToString()),
                    new TextKeyValue("FirstBurstLength", Math.Min(64 * KiB, maxBurstLength).ToString()),
                    new TextKeyValue("ImmediateData", "Yes"));
                Assert.Equal(IscsiOpcode.LoginResponse, rig.Login.Opcode);
                Assert.Equal(0, rig.Login.Bhs[36]); // success
                Assert.Equal(0x80 | (1 << 2) | 3, rig.Login.Flags); // straight to full feature phase
                rig.CmdSN = rig.Login.Field28;
                return rig;
            }
            catch
            {
                await rig.DisposeAsync();
                throw;
            }
        }

        public Command Read(uint lba, int blocks, uint expStatSN) => new(_nextItt++, CmdSN++, expStatSN, Read10, lba, blocks, null);

        /// <param name="immediate">Send the data with the command (ImmediateData=Yes); else the target asks for it by R2T.</param>
        public Command Write(uint lba, byte[] data, uint expStatSN, bool immediate = true) =>
            new(_nextItt++, CmdSN++, expStatSN, Write10, lba, data.Length / BlockSize, data, immediate);

        /// <summary>One Data-Out answering an R2T: F set, DataSN 0, the R2T's TTT and Buffer Offset.</summary>
        public static Pdu DataOut(uint itt, uint ttt, uint offset, ReadOnlySpan<byte> data, uint expStatSN)
        {
            var pdu = new Pdu { Opcode = IscsiOpcode.DataOut, Final = true, InitiatorTaskTag = itt, Field20 = ttt };
            pdu.Field28 = expStatSN;
            pdu.Field36 = 0;
            pdu.Field40 = offset;
            pdu.SetData(data);
            return pdu;
        }

        /// <summary>The next PDU, which must be an R2T for <paramref name="itt"/>.</summary>
        public async Task<Pdu> ExpectR2TAsync(uint itt)
        {
            var pdu = await NextAsync();
            Assert.True(pdu.Opcode == IscsiOpcode.ReadyToTransfer && pdu.InitiatorTaskTag == itt, $"expected an R2T for 0x{itt:x8}, got {Describe(pdu)}");
            return pdu;
        }

        /// <summary>The next PDU, which must be the SCSI Response of <paramref name="itt"/>.</summary>
        public async Task<Pdu> ExpectResponseAsync(uint itt)
        {
            var pdu = await NextAsync();
            Assert.True(pdu.Opcode == IscsiOpcode.ScsiResponse && pdu.InitiatorTaskTag == itt, $"expected the SCSI Response of 0x{itt:x8}, got {Describe(pdu)}");
            return pdu;
        }

        /// <summary>SNACK Request (RFC 7143 §11.16): type in byte 1, TTT or SNACK Tag in 20..23, BegRun 40..43, RunLength 44..47.</summary>
        public static Pdu Snack(SnackType type, uint itt, uint tagOrTtt, uint begRun, uint runLength, uint expStatSN)
        {
            var pdu = new Pdu { Opcode = IscsiOpcode.SnackRequest, InitiatorTaskTag = itt };
            pdu.Flags = (byte)(0x80 | (byte)type);
            pdu.Field20 = tagOrTtt;
            pdu.Field28 = expStatSN;
            pdu.Field40 = begRun;
            pdu.Field44 = runLength;
            return pdu;
        }

        /// <summary>Hands the PDU to the writer, which owns it from then on (it goes back to the shared pool once sent).</summary>
        public void Send(Pdu pdu) => C.Send(pdu);

        /// <summary>
        /// Sends the command and collects every PDU up to its status, then pings: the NOP-In proves nothing else was
        /// sent, and it leaves the target's writer after the status's sent-notification ran, which is when the target
        /// starts keeping the task (TargetRecovery.TryRetain). Without that barrier a SNACK sent the instant the status
        /// arrives could race the retention.
        /// </summary>
        public async Task<Outcome> RunAsync(Command command)
        {
            Send(command.Build());
            var pdus = new List<Pdu>();
            while (true)
            {
                var pdu = await NextAsync();
                Assert.True(pdu.InitiatorTaskTag == command.Itt, $"unexpected {Describe(pdu)} while waiting for task 0x{command.Itt:x8}");
                pdus.Add(pdu);
                if (pdu.Opcode == IscsiOpcode.ScsiResponse || (pdu.Opcode == IscsiOpcode.DataIn && (pdu.Flags & 0x01) != 0)) break;
            }
            var barrier = await PingAsync(command.ExpStatSN);
            Assert.True(barrier.Before.Count == 0, $"unexpected after the status: {string.Join(", ", barrier.Before.Select(Describe))}");
            return new Outcome(command.Itt, pdus);
        }

        /// <summary>
        /// NOP-Out (a ping with a fresh ITT; immediate unless told) and every PDU the target sent before its NOP-In: the
        /// target answers in the order it reads, so these are exactly its answers to what we sent before the ping.
        /// </summary>
        public async Task<(List<Pdu> Before, Pdu NopIn)> PingAsync(uint expStatSN, bool immediate = true)
        {
            uint itt = _nextPingItt++;
            var nop = new Pdu { Opcode = IscsiOpcode.NopOut, Immediate = immediate, Final = true, InitiatorTaskTag = itt, Field20 = Pdu.ReservedTag };
            nop.Field24 = immediate ? CmdSN : CmdSN++;
            nop.Field28 = expStatSN;
            Send(nop);
            var before = new List<Pdu>();
            while (true)
            {
                var pdu = await NextAsync();
                if (pdu.Opcode == IscsiOpcode.NopIn && pdu.InitiatorTaskTag == itt) return (before, pdu);
                before.Add(pdu);
            }
        }

        private async Task<Pdu> NextAsync() =>
            await C.ReceiveAsync(TimeSpan.FromSeconds(2)) ?? throw new Xunit.Sdk.XunitException("the target sent nothing within 2 s");

        private static string Describe(Pdu p) =>
            $"{p.Opcode} ITT=0x{p.InitiatorTaskTag:x8} flags=0x{p.Flags:x2} StatSN={p.Field24} DataSN={p.Field36} reason=0x{p.Bhs[2]:x2}";

        public async ValueTask DisposeAsync()
        {
            if (C is not null) await C.DisposeAsync();
            await Target.DisposeAsync();
            foreach (var line in Log.Lines) _output.WriteLine(line);
        }
    }
}
