using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget;

/// <summary>Runs CDBs against a logical unit and checks status and sense bytes.</summary>
internal static class LuHarness
{
    public static BlockDeviceLogicalUnit RamLu(long size = 64L << 20, int blockSize = 512, BlockDeviceOptions? options = null) =>
        new(new RamBackingStore(size), options ?? new BlockDeviceOptions { BlockSize = blockSize, Identity = "test-lu" });

    public static async Task<(ScsiCommandResult Result, byte[] Data)> In(ILogicalUnit lu, byte[] cdb, int expectedDataIn)
    {
        var task = new FakeScsiTask(cdb, expectedDataIn: expectedDataIn);
        var result = await lu.ExecuteAsync(task, CancellationToken.None);
        return (result, result.Status == ScsiStatus.Good ? task.SentData(result) : []);
    }

    public static async Task<ScsiCommandResult> Out(ILogicalUnit lu, byte[] cdb, byte[] data, int? expectedDataOut = null)
    {
        var task = new FakeScsiTask(cdb, dataOut: data, expectedDataOut: expectedDataOut);
        return await lu.ExecuteAsync(task, CancellationToken.None);
    }

    public static async Task<ScsiCommandResult> NoData(ILogicalUnit lu, byte[] cdb) =>
        await lu.ExecuteAsync(new FakeScsiTask(cdb), CancellationToken.None);

    public static async Task<byte[]> ReadBlocks(ILogicalUnit lu, ulong lba, uint blocks)
    {
        var (result, data) = await In(lu, Cdbs.Read16(lba, blocks), (int)blocks * lu.BlockSize);
        AssertGood(result);
        return data;
    }

    public static async Task WriteBlocks(ILogicalUnit lu, ulong lba, byte[] data)
    {
        var result = await Out(lu, Cdbs.Write16(lba, (uint)(data.Length / lu.BlockSize)), data);
        AssertGood(result);
    }

    public static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static void AssertGood(ScsiCommandResult result)
    {
        Assert.True(result.Status == ScsiStatus.Good,
            $"expected GOOD, got {result.Status} with sense {Convert.ToHexString(result.Sense.Span)}");
    }

    /// <summary>CHECK CONDITION with fixed-format sense carrying exactly this key/ASC/ASCQ.</summary>
    public static byte[] AssertSense(ScsiCommandResult result, byte key, byte asc, byte ascq)
    {
        Assert.Equal(ScsiStatus.CheckCondition, result.Status);
        var sense = result.Sense.ToArray();
        Assert.True(sense.Length >= 18, $"sense is {sense.Length} bytes");
        Assert.Equal(0x70, sense[0] & 0x7F);          // current error, fixed format
        Assert.Equal(10, sense[7]);                     // additional sense length
        Assert.Equal((key, asc, ascq), ((byte)(sense[2] & 0x0F), sense[12], sense[13]));
        return sense;
    }

    public static byte[] AssertInvalidFieldInCdb(ScsiCommandResult result, int? fieldByte = null)
    {
        var sense = AssertSense(result, 0x05, 0x24, 0x00);
        if (fieldByte is { } b)
        {
            Assert.Equal(0xC0, sense[15] & 0xC0); // SKSV, C/D = CDB
            Assert.Equal(b, BinaryPrimitives.ReadUInt16BigEndian(sense.AsSpan(16)));
        }
        return sense;
    }

    public static void AssertLbaOutOfRange(ScsiCommandResult result) => AssertSense(result, 0x05, 0x21, 0x00);

    public static uint Information(byte[] sense)
    {
        Assert.True((sense[0] & 0x80) != 0, "VALID bit must be set when INFORMATION is meaningful");
        return BinaryPrimitives.ReadUInt32BigEndian(sense.AsSpan(3));
    }
}
