using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>SANITIZE (SBC-4 §5.29): OVERWRITE, BLOCK ERASE, CRYPTOGRAPHIC ERASE, EXIT FAILURE MODE, IMMED and the failure mode.</summary>
public class BlockDeviceSanitizeTests
{
    private const byte Overwrite = 0x01, BlockErase = 0x02, CryptoErase = 0x03, ExitFailureMode = 0x1F;

    private static byte[] SanitizeCdb(byte action, ushort listLength = 0, bool immed = false, bool ause = false) =>
        [0x48, (byte)((immed ? 0x80 : 0) | (ause ? 0x20 : 0) | action), 0, 0, 0, 0, 0, (byte)(listLength >> 8), (byte)listLength, 0];

    private static byte[] OverwriteList(byte[] pattern, int count = 1, bool invert = false)
    {
        var list = new byte[4 + pattern.Length];
        list[0] = (byte)((invert ? 0x80 : 0) | count);
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), (ushort)pattern.Length);
        pattern.CopyTo(list, 4);
        return list;
    }

    private static Task<ScsiCommandResult> SanitizeOverwrite(ILogicalUnit lu, byte[] list, bool immed = false, bool ause = false) =>
        Out(lu, SanitizeCdb(Overwrite, (ushort)list.Length, immed, ause), list);

    private static byte[] Repeat(byte[] pattern, int length)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = pattern[i % pattern.Length];
        return data;
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Overwrite_leaves_every_block_holding_the_pattern(int blockSize)
    {
        await using var lu = RamLu(4L << 20, blockSize);
        await WriteBlocks(lu, 0, Pattern(16 * blockSize, 1));
        await WriteBlocks(lu, (ulong)lu.BlockCount - 16, Pattern(16 * blockSize, 2));

        byte[] pattern = [0xDE, 0xAD, 0xBE, 0xEF, 0x42];
        var list = OverwriteList(pattern);
        var result = await SanitizeOverwrite(lu, list);
        AssertGood(result);
        Assert.Equal(list.Length, result.DataOutLength);

        var block = Repeat(pattern, blockSize); // the pattern starts afresh in each block
        var expected = Enumerable.Range(0, 16).SelectMany(_ => block).ToArray();
        Assert.Equal(expected, await ReadBlocks(lu, 0, 16));
        Assert.Equal(expected, await ReadBlocks(lu, (ulong)lu.BlockCount - 16, 16));
    }

    [Fact]
    public async Task Overwrite_with_invert_complements_the_pattern_between_passes()
    {
        await using var lu = RamLu(1L << 20);
        AssertGood(await SanitizeOverwrite(lu, OverwriteList([0x0F], count: 2, invert: true)));
        Assert.All(await ReadBlocks(lu, 0, 8), b => Assert.Equal(0xF0, b)); // pass 1: 0F, pass 2: F0
        AssertGood(await SanitizeOverwrite(lu, OverwriteList([0x0F], count: 3, invert: true)));
        Assert.All(await ReadBlocks(lu, 100, 8), b => Assert.Equal(0x0F, b));
    }

    [Fact]
    public async Task Block_erase_deallocates_every_block_and_reads_back_zeros()
    {
        await using var lu = RamLu(4L << 20);
        await WriteBlocks(lu, 0, Pattern(256 * 512, 3));
        await WriteBlocks(lu, (ulong)lu.BlockCount - 256, Pattern(256 * 512, 4));

        AssertGood(await NoData(lu, SanitizeCdb(BlockErase)));

        Assert.Equal(new byte[256 * 512], await ReadBlocks(lu, 0, 256));
        Assert.Equal(new byte[256 * 512], await ReadBlocks(lu, (ulong)lu.BlockCount - 256, 256));
        var (status, data) = await In(lu, Cdbs.GetLbaStatus(0, 256), 256);
        AssertGood(status);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(8)));
        Assert.Equal((uint)lu.BlockCount, BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(16)));
        Assert.Equal(0x01, data[20]); // deallocated
    }

    [Fact]
    public async Task Cryptographic_erase_leaves_nothing_of_the_old_data()
    {
        await using var lu = RamLu(4L << 20);
        var old = Pattern(64 * 512, 5);
        await WriteBlocks(lu, 0, old);
        AssertGood(await NoData(lu, SanitizeCdb(CryptoErase)));
        var back = await ReadBlocks(lu, 0, 64);
        Assert.NotEqual(old, back);
        Assert.NotEqual(new byte[back.Length], back);
    }

    [Fact]
    public async Task Immed_returns_at_once_and_commands_get_sanitize_in_progress_with_progress_until_done()
    {
        await using var lu = RamLu(8L << 20, options: new BlockDeviceOptions { Identity = "slow", SanitizeMinimumDuration = TimeSpan.FromSeconds(1.5) });
        await WriteBlocks(lu, 0, Pattern(8 * 512, 6));

        var started = DateTime.UtcNow;
        AssertGood(await SanitizeOverwrite(lu, OverwriteList([0x5A]), immed: true));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1), "IMMED waited for the sanitize");

        await Task.Delay(300);
        var sense = AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x02, 0x04, 0x1B);
        Assert.Equal(0x80, sense[15] & 0x80); // SKSV: a progress indication
        ushort first = BinaryPrimitives.ReadUInt16BigEndian(sense.AsSpan(16));
        AssertSense(await In(lu, Cdbs.Read16(0, 1), 512).ContinueWith(t => t.Result.Result), 0x02, 0x04, 0x1B);
        AssertSense(await Out(lu, Cdbs.Write16(0, 1), new byte[512]), 0x02, 0x04, 0x1B);
        AssertSense(await SanitizeOverwrite(lu, OverwriteList([1])), 0x02, 0x04, 0x1B); // one at a time

        // INQUIRY, REPORT LUNS and REQUEST SENSE still work; REQUEST SENSE reports the progress.
        AssertGood((await In(lu, Cdbs.Inquiry(false, 0, 96), 96)).Result);
        AssertGood((await In(lu, Cdbs.ReportLuns(), 4096)).Result);
        await Task.Delay(300);
        var (requestSense, senseData) = await In(lu, Cdbs.RequestSense(), 252);
        AssertGood(requestSense);
        Assert.Equal(0x02, senseData[2] & 0x0F);
        Assert.Equal((0x04, 0x1B), (senseData[12], senseData[13]));
        Assert.Equal(0x80, senseData[15] & 0x80);
        Assert.True(BinaryPrimitives.ReadUInt16BigEndian(senseData.AsSpan(16)) > first, "the progress indication did not move");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await NoData(lu, Cdbs.TestUnitReady())).Status != ScsiStatus.Good)
        {
            Assert.True(DateTime.UtcNow < deadline, "the sanitize never finished");
            await Task.Delay(50);
        }
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(1.4), "the sanitize ignored its minimum duration");
        Assert.All(await ReadBlocks(lu, 0, 8), b => Assert.Equal(0x5A, b));
    }

    [Fact]
    public async Task Without_immed_the_command_waits_and_an_abort_leaves_the_sanitize_running()
    {
        await using var lu = RamLu(4L << 20, options: new BlockDeviceOptions { Identity = "slow", SanitizeMinimumDuration = TimeSpan.FromSeconds(1) });
        using var abort = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var list = OverwriteList([0x77]);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await lu.ExecuteAsync(new FakeScsiTask(SanitizeCdb(Overwrite, (ushort)list.Length), dataOut: list), abort.Token));
        AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x02, 0x04, 0x1B);
        lu.Reset(LogicalUnitResetKind.LogicalUnitReset); // a reset does not stop it either
        AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x02, 0x04, 0x1B);
        await Task.Delay(1500);
        // Done: at most the reset's unit attention comes now, then the medium is ready and holds the pattern.
        var first = await NoData(lu, Cdbs.TestUnitReady());
        if (first.Status != ScsiStatus.Good) Assert.Equal(0x06, first.Sense.Span[2] & 0x0F);
        AssertGood(await NoData(lu, Cdbs.TestUnitReady()));
        Assert.All(await ReadBlocks(lu, 0, 4), b => Assert.Equal(0x77, b));
    }

    [Fact]
    public async Task Bad_parameter_list_lengths_and_fields_are_illegal_requests()
    {
        await using var lu = RamLu(1L << 20);
        var list = OverwriteList(new byte[512]);
        // OVERWRITE: PARAMETER LIST LENGTH 5 to block length + 4.
        foreach (ushort length in new ushort[] { 0, 1, 4, 512 + 5 })
            AssertInvalidFieldInCdb(await Out(lu, SanitizeCdb(Overwrite, length), new byte[Math.Max(1, (int)length)]), 7);
        // Erases and EXIT FAILURE MODE take no parameter list.
        foreach (byte action in new[] { BlockErase, CryptoErase, ExitFailureMode })
            AssertInvalidFieldInCdb(await Out(lu, SanitizeCdb(action, 8), new byte[8]), 7);
        // Reserved bit in byte 1 and reserved bytes 2-6.
        var reserved = SanitizeCdb(Overwrite, (ushort)list.Length);
        reserved[1] |= 0x40;
        AssertInvalidFieldInCdb(await Out(lu, reserved, list), 1);
        for (int i = 2; i <= 6; i++)
        {
            var cdb = SanitizeCdb(Overwrite, (ushort)list.Length);
            cdb[i] = 1;
            AssertInvalidFieldInCdb(await Out(lu, cdb, list), i);
        }
        // Parameter list: OVERWRITE COUNT 0, PATTERN LENGTH 0, longer than a block or than the list.
        var zeroCount = OverwriteList([1, 2]);
        zeroCount[0] = 0;
        AssertSense(await SanitizeOverwrite(lu, zeroCount), 0x05, 0x26, 0x00);
        var zeroPattern = OverwriteList([1, 2]);
        zeroPattern[3] = 0;
        AssertSense(await SanitizeOverwrite(lu, zeroPattern), 0x05, 0x26, 0x00);
        var overLong = OverwriteList([1, 2]);
        overLong[3] = 3;
        AssertSense(await SanitizeOverwrite(lu, overLong), 0x05, 0x26, 0x00);
        var beyondBlock = new byte[512 + 4];
        beyondBlock[0] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(beyondBlock.AsSpan(2), 512 + 4);
        AssertSense(await SanitizeOverwrite(lu, beyondBlock), 0x05, 0x26, 0x00);
        AssertGood(await NoData(lu, Cdbs.TestUnitReady()));
    }

    [Fact]
    public async Task Unsupported_service_actions_are_invalid_fields_and_a_thick_unit_offers_only_overwrite()
    {
        await using var lu = RamLu(1L << 20);
        for (byte action = 0; action <= 0x1F; action++)
            if (action is not (Overwrite or BlockErase or CryptoErase or ExitFailureMode))
                AssertInvalidFieldInCdb(await NoData(lu, SanitizeCdb(action)), 1);

        await using var thick = RamLu(1L << 20, options: new BlockDeviceOptions { Identity = "thick", ThinProvisioning = false });
        AssertInvalidFieldInCdb(await NoData(thick, SanitizeCdb(BlockErase)), 1);
        AssertInvalidFieldInCdb(await NoData(thick, SanitizeCdb(CryptoErase)), 1);
        AssertGood(await SanitizeOverwrite(thick, OverwriteList([9])));
        AssertGood(await NoData(thick, SanitizeCdb(ExitFailureMode))); // nothing to exit
    }

    [Fact]
    public async Task Report_supported_operation_codes_and_the_characteristics_page_describe_sanitize()
    {
        await using var lu = RamLu(1L << 20);
        foreach (byte action in new[] { Overwrite, BlockErase, CryptoErase, ExitFailureMode })
        {
            var (result, data) = await In(lu, Cdbs.ReportSupportedOpcodes(2, 0x48, action), 64);
            AssertGood(result);
            Assert.Equal(0x03, data[1] & 0x07); // supported
            Assert.Equal(new byte[] { 0x48, (byte)(0xA0 | action), 0, 0, 0, 0, 0, 0xFF, 0xFF, 0 }, data[4..14]);
        }
        var (unsupported, none) = await In(lu, Cdbs.ReportSupportedOpcodes(2, 0x48, 0x04), 64);
        AssertGood(unsupported);
        Assert.Equal(0x01, none[1] & 0x07);
        var (inquiry, page) = await In(lu, Cdbs.Inquiry(true, 0xB1, 64), 64);
        AssertGood(inquiry);
        Assert.Equal(0x50, page[7]); // WABEREQ 01b, WACEREQ 01b
    }

    [Fact]
    public async Task A_write_protected_unit_refuses_sanitize()
    {
        await using var lu = RamLu(1L << 20, options: new BlockDeviceOptions { Identity = "ro", ReadOnly = true });
        AssertSense(await SanitizeOverwrite(lu, OverwriteList([1])), 0x07, 0x27, 0x00);
        AssertSense(await NoData(lu, SanitizeCdb(BlockErase)), 0x07, 0x27, 0x00);
        AssertSense(await NoData(lu, SanitizeCdb(CryptoErase)), 0x07, 0x27, 0x00);
    }

    [Fact]
    public async Task A_failed_sanitize_refuses_the_medium_until_exit_failure_mode_when_ause_was_set()
    {
        var store = new FailingStore(new RamBackingStore(1L << 20));
        await using var lu = new BlockDeviceLogicalUnit(store, new BlockDeviceOptions { Identity = "failing" });
        store.FailWrites = true;
        AssertSense(await SanitizeOverwrite(lu, OverwriteList([1])), 0x03, 0x31, 0x03);
        AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x03, 0x31, 0x03);
        AssertSense(await In(lu, Cdbs.Read16(0, 1), 512).ContinueWith(t => t.Result.Result), 0x03, 0x31, 0x03);
        AssertGood((await In(lu, Cdbs.Inquiry(false, 0, 96), 96)).Result);
        // AUSE was clear: EXIT FAILURE MODE is refused; only a sanitize that succeeds ends the failure mode.
        AssertInvalidFieldInCdb(await NoData(lu, SanitizeCdb(ExitFailureMode)), 1);
        store.FailWrites = false;
        AssertGood(await SanitizeOverwrite(lu, OverwriteList([2])));
        AssertGood(await NoData(lu, Cdbs.TestUnitReady()));

        // With AUSE, EXIT FAILURE MODE ends it.
        store.FailWrites = true;
        AssertSense(await SanitizeOverwrite(lu, OverwriteList([3]), ause: true), 0x03, 0x31, 0x03);
        AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x03, 0x31, 0x03);
        store.FailWrites = false;
        AssertGood(await NoData(lu, SanitizeCdb(ExitFailureMode)));
        AssertGood(await NoData(lu, Cdbs.TestUnitReady()));
    }

    [Fact]
    public async Task Disposing_the_unit_stops_a_running_sanitize()
    {
        var lu = RamLu(4L << 20, options: new BlockDeviceOptions { Identity = "slow", SanitizeMinimumDuration = TimeSpan.FromMinutes(10) });
        AssertGood(await SanitizeOverwrite(lu, OverwriteList([1]), immed: true));
        AssertSense(await NoData(lu, Cdbs.TestUnitReady()), 0x02, 0x04, 0x1B);
        var dispose = lu.DisposeAsync().AsTask();
        Assert.Same(dispose, await Task.WhenAny(dispose, Task.Delay(TimeSpan.FromSeconds(10))));
    }

    private sealed class FailingStore(IBackingStore inner) : IBackingStore
    {
        public volatile bool FailWrites;
        public long Size => inner.Size;
        public bool SupportsDiscard => inner.SupportsDiscard;
        public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) => inner.ReadAsync(offset, destination, cancellationToken);
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
            FailWrites ? ValueTask.FromException(new IOException("injected write failure")) : inner.WriteAsync(offset, source, cancellationToken);
        public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default) => inner.DiscardAsync(offset, length, cancellationToken);
        public ValueTask<StoreExtent> GetExtentAsync(long offset, CancellationToken cancellationToken = default) => inner.GetExtentAsync(offset, cancellationToken);
        public string Describe() => "failing:" + inner.Describe();
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
