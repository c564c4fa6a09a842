using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget;

public class SenseAndLunEncodingTests
{
    [Fact]
    public void Fixed_sense_layout_follows_spc4()
    {
        var sense = SenseBuilder.Fixed(SenseCondition.LogicalBlockAddressOutOfRange);
        Assert.Equal(18, sense.Length);
        Assert.Equal(0x70, sense[0]);          // current, fixed format, VALID clear
        Assert.Equal(0x05, sense[2]);          // ILLEGAL REQUEST
        Assert.Equal(10, sense[7]);            // additional sense length
        Assert.Equal(0x21, sense[12]);
        Assert.Equal(0x00, sense[13]);
        Assert.Equal(0x00, sense[15]);         // no sense-key specific data
    }

    [Fact]
    public void Information_sets_valid_and_is_big_endian()
    {
        var sense = SenseBuilder.WithInformation(SenseCondition.MiscompareDuringVerify, 0x01020304);
        Assert.Equal(0xF0, sense[0]);
        Assert.Equal(0x0E, sense[2]);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, sense[3..7]);
        Assert.Equal((0x1D, 0x00), ((int)sense[12], (int)sense[13]));
    }

    [Fact]
    public void Field_pointer_marks_cdb_or_parameter_byte_and_bit()
    {
        var cdb = SenseBuilder.CdbField(SenseCondition.InvalidFieldInCdb, 13);
        Assert.Equal(0xC0, cdb[15]);           // SKSV, C/D = 1, BPV = 0
        Assert.Equal(new byte[] { 0, 13 }, cdb[16..18]);
        var bit = SenseBuilder.CdbField(SenseCondition.InvalidFieldInCdb, 1, 7);
        Assert.Equal(0xCF, bit[15]);           // SKSV, C/D, BPV, bit 7
        var parameter = SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, 300);
        Assert.Equal(0x80, parameter[15]);     // SKSV, C/D = 0
        Assert.Equal(new byte[] { 0x01, 0x2C }, parameter[16..18]);
        Assert.Equal(0x26, parameter[12]);
    }

    [Theory]
    [InlineData(0UL, new byte[] { 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(5UL, new byte[] { 0, 5, 0, 0, 0, 0, 0, 0 })]
    [InlineData(255UL, new byte[] { 0, 255, 0, 0, 0, 0, 0, 0 })]
    [InlineData(256UL, new byte[] { 0x41, 0x00, 0, 0, 0, 0, 0, 0 })]
    [InlineData(16383UL, new byte[] { 0x7F, 0xFF, 0, 0, 0, 0, 0, 0 })]
    public void Luns_use_peripheral_then_flat_addressing(ulong lun, byte[] encoded)
    {
        var buffer = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(buffer, LunAddressing.Encode((int)lun));
        Assert.Equal(encoded, buffer);
        Assert.Equal((int)lun, LunAddressing.Decode(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(buffer)));
    }

    [Fact]
    public void Luns_beyond_flat_space_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LunAddressing.Encode(16384));
        Assert.False(LunAddressing.TryDecode(0x8000_0000_0000_0000UL, out _)); // logical unit addressing: not ours
    }

    [Theory]
    [InlineData(1L << 30, "1 GiB")]
    [InlineData(3L << 20, "3 MiB")]
    [InlineData(3072L, "3 KiB")]
    [InlineData(1536L, "1536 B")]
    [InlineData(1000L, "1000 B")]
    public void Sizes_format_in_binary_units(long bytes, string text) => Assert.Equal(text, ByteSize.Format(bytes));
}
