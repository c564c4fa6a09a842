using Iser.Core.Scsi;

namespace Iser.Tests.Codes;

public class ScsiStatusAndExceptionTests
{
    [Fact]
    public void EveryStatus_HasADistinctNameAndSentence()
    {
        var all = Enum.GetValues<ScsiStatus>();
        Assert.Equal(all.Length, all.Select(s => s.Name()).Distinct().Count());
        Assert.Equal(all.Length, all.Select(s => s.Describe()).Distinct().Count());
        Assert.All(all, s => Assert.StartsWith(s.Name() + ":", s.Describe()));
        Assert.Equal("RESERVATION CONFLICT", ScsiStatus.ReservationConflict.Name());
        Assert.Equal("STATUS 0x22", ((ScsiStatus)0x22).Name());
    }

    [Fact]
    public void CheckCondition_MessageCarriesDecodedSense()
    {
        byte[] sense = [0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00];
        var ex = ScsiCommandException.FromRawSense(ScsiStatus.CheckCondition, sense, "READ(16)");
        Assert.Equal("READ(16) failed with CHECK CONDITION: ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00).", ex.Message);
        Assert.Equal(ScsiStatus.CheckCondition, ex.Status);
        Assert.Equal(SenseKey.IllegalRequest, ex.SenseKey);
        Assert.Equal(AdditionalSenseCode.LogicalBlockAddressOutOfRange, ex.AdditionalSenseCode);
        Assert.Equal("READ(16)", ex.Command);
    }

    [Fact]
    public void StatusWithoutSense_IsExplained()
    {
        var ex = new ScsiCommandException(ScsiStatus.ReservationConflict, null, "WRITE(10)");
        Assert.StartsWith("WRITE(10) failed with RESERVATION CONFLICT: another initiator holds a reservation", ex.Message);
        Assert.Null(ex.Sense);
    }

    [Fact]
    public void UndecodableSense_IsSaid_AndKeptAsInnerException()
    {
        var ex = ScsiCommandException.FromRawSense(ScsiStatus.CheckCondition, [0x7F, 0, 0, 0, 0, 0, 0, 0]);
        Assert.Equal("The SCSI command failed with CHECK CONDITION and no usable sense data.", ex.Message);
        Assert.IsType<ScsiDataFormatException>(ex.InnerException);
    }
}
