using Iser.Core.Scsi;

namespace Iser.Tests.Codes;

public class AdditionalSenseCodesTests
{
    [Fact]
    public void Table_HasHundredsOfCodes_AllTextNonEmptyAndDistinct()
    {
        var table = AdditionalSenseCodes.Table;
        Assert.True(table.Count >= 300, $"only {table.Count} codes");
        Assert.All(table.Values, t => Assert.False(string.IsNullOrWhiteSpace(t)));
        var duplicates = table.GroupBy(kv => kv.Value).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.Empty(duplicates);
    }

    [Theory]
    // Codes a block target and its initiator meet, with their SPC-4 text.
    [InlineData(0x00, 0x00, "NO ADDITIONAL SENSE INFORMATION")]
    [InlineData(0x04, 0x00, "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE")]
    [InlineData(0x04, 0x01, "LOGICAL UNIT IS IN PROCESS OF BECOMING READY")]
    [InlineData(0x04, 0x02, "LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED")]
    [InlineData(0x04, 0x03, "LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED")]
    [InlineData(0x04, 0x0A, "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION")]
    [InlineData(0x0C, 0x00, "WRITE ERROR")]
    [InlineData(0x10, 0x01, "LOGICAL BLOCK GUARD CHECK FAILED")]
    [InlineData(0x11, 0x00, "UNRECOVERED READ ERROR")]
    [InlineData(0x1A, 0x00, "PARAMETER LIST LENGTH ERROR")]
    [InlineData(0x1D, 0x00, "MISCOMPARE DURING VERIFY OPERATION")]
    [InlineData(0x20, 0x00, "INVALID COMMAND OPERATION CODE")]
    [InlineData(0x21, 0x00, "LOGICAL BLOCK ADDRESS OUT OF RANGE")]
    [InlineData(0x24, 0x00, "INVALID FIELD IN CDB")]
    [InlineData(0x25, 0x00, "LOGICAL UNIT NOT SUPPORTED")]
    [InlineData(0x26, 0x00, "INVALID FIELD IN PARAMETER LIST")]
    [InlineData(0x27, 0x00, "WRITE PROTECTED")]
    [InlineData(0x27, 0x07, "SPACE ALLOCATION FAILED WRITE PROTECT")]
    [InlineData(0x29, 0x00, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED")]
    [InlineData(0x29, 0x03, "BUS DEVICE RESET FUNCTION OCCURRED")]
    [InlineData(0x29, 0x07, "I_T NEXUS LOSS OCCURRED")]
    [InlineData(0x2A, 0x01, "MODE PARAMETERS CHANGED")]
    [InlineData(0x2A, 0x09, "CAPACITY DATA HAS CHANGED")]
    [InlineData(0x2C, 0x00, "COMMAND SEQUENCE ERROR")]
    [InlineData(0x2F, 0x00, "COMMANDS CLEARED BY ANOTHER INITIATOR")]
    [InlineData(0x38, 0x07, "THIN PROVISIONING SOFT THRESHOLD REACHED")]
    [InlineData(0x3A, 0x00, "MEDIUM NOT PRESENT")]
    [InlineData(0x3F, 0x0E, "REPORTED LUNS DATA HAS CHANGED")]
    [InlineData(0x44, 0x00, "INTERNAL TARGET FAILURE")]
    [InlineData(0x47, 0x05, "PROTOCOL SERVICE CRC ERROR")]
    [InlineData(0x4B, 0x00, "DATA PHASE ERROR")]
    [InlineData(0x4E, 0x00, "OVERLAPPED COMMANDS ATTEMPTED")]
    [InlineData(0x55, 0x03, "INSUFFICIENT RESOURCES")]
    [InlineData(0x5D, 0x00, "FAILURE PREDICTION THRESHOLD EXCEEDED")]
    public void CommonCodes_HaveTheirSpcText(byte asc, byte ascq, string text)
    {
        Assert.True(AdditionalSenseCodes.TryGetText(asc, ascq, out var found));
        Assert.Equal(text, found);
        Assert.Equal(text, AdditionalSenseCodes.Describe(asc, ascq));
    }

    [Fact]
    public void RangeAndVendorCodes_AreFormatted()
    {
        Assert.Equal("DIAGNOSTIC FAILURE ON COMPONENT 0x81", AdditionalSenseCodes.Describe(0x40, 0x81));
        Assert.Equal("TAGGED OVERLAPPED COMMANDS (TASK TAG 0x05)", AdditionalSenseCodes.Describe(0x4D, 0x05));
        Assert.Equal("DECOMPRESSION EXCEPTION SHORT ALGORITHM ID OF 0x10", AdditionalSenseCodes.Describe(0x70, 0x10));
        Assert.Equal("VENDOR SPECIFIC ADDITIONAL SENSE CODE 0x80/0x01", AdditionalSenseCodes.Describe(0x80, 0x01));
        Assert.Equal("VENDOR SPECIFIC QUALIFIER 0x90 OF ADDITIONAL SENSE CODE 0x04", AdditionalSenseCodes.Describe(0x04, 0x90));
        Assert.Equal("UNKNOWN ADDITIONAL SENSE CODE 0x56/0x00", AdditionalSenseCodes.Describe(0x56, 0x00));
        Assert.False(AdditionalSenseCodes.TryGetText(0x56, 0x00, out _));
    }

    [Fact]
    public void EveryNamedAdditionalSenseCode_IsInTheTable()
    {
        var named = typeof(AdditionalSenseCode)
            .GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(p => p.PropertyType == typeof(AdditionalSenseCode))
            .Select(p => (p.Name, Code: (AdditionalSenseCode)p.GetValue(null)!))
            .ToList();
        Assert.True(named.Count >= 30);
        Assert.All(named, n => Assert.True(AdditionalSenseCodes.TryGetText(n.Code.Asc, n.Code.Ascq, out _), n.Name));
        Assert.Equal(named.Count, named.Select(n => n.Code).Distinct().Count());
        Assert.Equal("LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)", AdditionalSenseCode.LogicalBlockAddressOutOfRange.ToString());
    }

    [Fact]
    public void SenseKeys_AllSixteen_HaveDistinctNamesAndSentences()
    {
        var keys = Enumerable.Range(0, 16).Select(k => (SenseKey)k).ToList();
        Assert.Equal(16, keys.Select(k => k.Name()).Distinct().Count());
        Assert.Equal(16, keys.Select(k => k.Describe()).Distinct().Count());
        Assert.All(keys, k => Assert.StartsWith(k.Name() + ":", k.Describe()));
        Assert.Equal("ILLEGAL REQUEST", SenseKey.IllegalRequest.Name());
        Assert.Equal("UNIT ATTENTION", SenseKey.UnitAttention.Name());
        Assert.Equal("NOT READY: LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE (0x04/0x00)", SenseText.Describe(SenseKey.NotReady, 0x04, 0x00));
    }
}
