using Iser.Core.Scsi;

namespace Iser.Tests.Codes;

public class SenseDataTests
{
    [Fact]
    public void Fixed_IllegalRequestLbaOutOfRange_WithInformation()
    {
        // SPC-4: byte0 VALID(7) RESPONSE CODE(6-0), byte2 FILEMARK EOM ILI SDAT_OVFL SENSE KEY(3-0),
        // 3-6 INFORMATION, 7 ADDITIONAL SENSE LENGTH, 8-11 COMMAND-SPECIFIC, 12 ASC, 13 ASCQ, 14 FRU, 15-17 SKS.
        byte[] sense =
        [
            0xF0, 0x00, 0x05, 0x00, 0x20, 0x00, 0x00, 0x0A,
            0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        var s = SenseData.Parse(sense);
        Assert.Equal(SenseDataFormat.Fixed, s.Format);
        Assert.Equal(0x70, s.ResponseCode);
        Assert.False(s.IsDeferred);
        Assert.Equal(SenseKey.IllegalRequest, s.SenseKey);
        Assert.Equal(0x21, s.Asc);
        Assert.Equal(0x00, s.Ascq);
        Assert.True(s.InformationValid);
        Assert.Equal(0x200000UL, s.Information);
        Assert.Equal(AdditionalSenseCode.LogicalBlockAddressOutOfRange, s.AdditionalSenseCode);
        Assert.Equal("ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)", s.Describe());
        Assert.Equal("ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00), information 0x200000", s.DescribeDetailed());
    }

    [Fact]
    public void Fixed_InvalidFieldInCdb_WithFieldPointer()
    {
        // SKS (SPC-4): byte15 SKSV(7) C/D(6) BPV(3) BIT POINTER(2-0), bytes 16-17 FIELD POINTER.
        byte[] sense =
        [
            0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0A,
            0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0xCD, 0x00, 0x01,
        ];
        var s = SenseData.Parse(sense);
        Assert.False(s.InformationValid);
        Assert.True(s.SenseKeySpecificValid);
        Assert.Equal(new SenseFieldPointer(true, 1, 5), s.FieldPointer);
        Assert.Equal("ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00), bad field at CDB byte 1 bit 5", s.DescribeDetailed());
    }

    [Fact]
    public void Fixed_DeferredMediumError()
    {
        byte[] sense = [0x71, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00];
        var s = SenseData.Parse(sense);
        Assert.True(s.IsDeferred);
        Assert.Equal(SenseKey.MediumError, s.SenseKey);
        Assert.Equal("DEFERRED ERROR: MEDIUM ERROR: UNRECOVERED READ ERROR (0x11/0x00)", s.Describe());
    }

    [Fact]
    public void Fixed_NotReadyWithProgress()
    {
        byte[] sense =
        [
            0x70, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0A,
            0x00, 0x00, 0x00, 0x00, 0x04, 0x04, 0x00, 0x80, 0x80, 0x00,
        ];
        var s = SenseData.Parse(sense);
        Assert.Equal(0.5, s.Progress);
        Assert.Equal("NOT READY: LOGICAL UNIT NOT READY, FORMAT IN PROGRESS (0x04/0x04), 50% done", s.DescribeDetailed());
    }

    [Fact]
    public void Fixed_AdditionalSenseLengthBoundsTheFields()
    {
        // ADDITIONAL SENSE LENGTH 0: only the header is sense; the bytes after it are not ASC/ASCQ.
        byte[] sense = [0x70, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xAA, 0xAA, 0xAA, 0xAA, 0x29, 0x00];
        var s = SenseData.Parse(sense);
        Assert.Equal(SenseKey.UnitAttention, s.SenseKey);
        Assert.Equal(0, s.Asc);
        Assert.Equal(0UL, s.CommandSpecificInformation);
    }

    [Fact]
    public void Fixed_UnitAttentionPowerOn_AndFlags()
    {
        byte[] sense = [0x70, 0x00, 0xE6, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x29, 0x01, 0x07, 0x00, 0x00, 0x00];
        var s = SenseData.Parse(sense);
        Assert.True(s.Filemark);
        Assert.True(s.EndOfMedium);
        Assert.True(s.IncorrectLength);
        Assert.Equal(7, s.FieldReplaceableUnitCode);
        Assert.Equal("UNIT ATTENTION: POWER ON OCCURRED (0x29/0x01)", s.Describe());
    }

    [Fact]
    public void Descriptor_MiscompareWithInformationDescriptor()
    {
        // SPC-4: byte0 RESPONSE CODE 72h, byte1 SENSE KEY, byte2 ASC, byte3 ASCQ, byte7 ADDITIONAL SENSE LENGTH.
        // Information descriptor: type 00h, additional length 0Ah, byte2 VALID(7), bytes 4-11 INFORMATION.
        byte[] sense =
        [
            0x72, 0x0E, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x0C,
            0x00, 0x0A, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
        ];
        var s = SenseData.Parse(sense);
        Assert.Equal(SenseDataFormat.Descriptor, s.Format);
        Assert.Equal(SenseKey.Miscompare, s.SenseKey);
        Assert.True(s.InformationValid);
        Assert.Equal(3UL, s.Information); // offset of the first miscompared byte
        Assert.Equal("MISCOMPARE: MISCOMPARE DURING VERIFY OPERATION (0x1D/0x00)", s.Describe());
    }

    [Fact]
    public void Descriptor_SeveralDescriptors_AndDeferred()
    {
        byte[] sense =
        [
            0x73, 0x05, 0x24, 0x00, 0x00, 0x00, 0x00, 0x22,
            // command-specific information (01h), 64-bit value
            0x01, 0x0A, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
            // sense key specific (02h): SKSV, C/D, field pointer 2
            0x02, 0x06, 0x00, 0x00, 0xC0, 0x00, 0x02, 0x00,
            // field replaceable unit (03h)
            0x03, 0x02, 0x00, 0x09,
            // block commands (05h): ILI
            0x05, 0x02, 0x00, 0x20,
        ];
        var s = SenseData.Parse(sense);
        Assert.True(s.IsDeferred);
        Assert.Equal(0x1122334455667788UL, s.CommandSpecificInformation);
        Assert.Equal(new SenseFieldPointer(true, 2, null), s.FieldPointer);
        Assert.Equal(9, s.FieldReplaceableUnitCode);
        Assert.True(s.IncorrectLength);
        Assert.False(s.InformationValid);
        Assert.Equal("DEFERRED ERROR: ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00), bad field at CDB byte 2", s.DescribeDetailed());
    }

    [Fact]
    public void Descriptor_DescriptorCutShort_KeepsWhatIsComplete()
    {
        // Header says 20 bytes follow; only the first descriptor and half of the second arrived.
        byte[] sense =
        [
            0x72, 0x06, 0x2A, 0x09, 0x00, 0x00, 0x00, 0x14,
            0x03, 0x02, 0x00, 0x04,
            0x00, 0x0A, 0x80, 0x00, 0x00,
        ];
        var s = SenseData.Parse(sense);
        Assert.Equal("UNIT ATTENTION: CAPACITY DATA HAS CHANGED (0x2A/0x09)", s.Describe());
        Assert.Equal(4, s.FieldReplaceableUnitCode);
        Assert.False(s.InformationValid);
    }

    [Fact]
    public void IscsiSenseSegment_StripsSenseLength()
    {
        // RFC 7143 §11.4.7.2: SenseLength (2 bytes) then sense data.
        byte[] segment = [0x00, 0x0E, 0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00];
        var s = SenseData.ParseIscsiSenseSegment(segment);
        Assert.Equal("ILLEGAL REQUEST: INVALID COMMAND OPERATION CODE (0x20/0x00)", s.Describe());

        var ex = Assert.Throws<ScsiDataFormatException>(() => SenseData.ParseIscsiSenseSegment(segment.AsSpan(0, 10)));
        Assert.Contains("SenseLength is 14", ex.Message);
    }

    [Theory]
    [InlineData(new byte[] { }, "empty")]
    [InlineData(new byte[] { 0x70, 0x00, 0x05 }, "3 bytes")]
    [InlineData(new byte[] { 0x72, 0x05, 0x24, 0x00 }, "Descriptor-format")]
    [InlineData(new byte[] { 0x7F, 0, 0, 0, 0, 0, 0, 0 }, "vendor-specific")]
    [InlineData(new byte[] { 0x60, 0, 0, 0, 0, 0, 0, 0 }, "0x60")]
    public void Truncated_OrUnknownFormat_IsAnErrorInWords(byte[] sense, string expectedWords)
    {
        var ex = Assert.Throws<ScsiDataFormatException>(() => SenseData.Parse(sense));
        Assert.Contains(expectedWords, ex.Message);
        Assert.False(SenseData.TryParse(sense, out var none));
        Assert.Null(none);
    }
}
