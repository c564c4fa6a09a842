namespace Iser.Tests.Peers;

/// <summary>Checks on an INQUIRY reply as libiscsi decoded it, shared by the tests against our target and tgtd.</summary>
internal static class StandardInquiryChecks
{
    /// <summary>
    /// SPC-4 §6.6.2: vendor (8 bytes), product (16) and revision (4) are left-aligned printable ASCII padded with spaces;
    /// iscsi-inq prints each field whole, so their lengths show whether the target filled them correctly.
    /// </summary>
    public static void AssertDiskIdentity(InquiryReport inquiry)
    {
        Assert.True(inquiry.Succeeded, $"iscsi-inq failed: {inquiry.Process}");
        Assert.Equal("DIRECT_ACCESS", inquiry.PeripheralDeviceType);
        Assert.Equal("CONNECTED", inquiry.Field("Peripheral Qualifier"));
        AssertAsciiField("Vendor", inquiry.Vendor, 8);
        AssertAsciiField("Product", inquiry.Product, 16);
        AssertAsciiField("Revision", inquiry.Revision, 4);
    }

    private static void AssertAsciiField(string name, string? value, int length)
    {
        Assert.True(value is not null, $"iscsi-inq printed no {name} line.");
        Assert.True(value!.Length == length, $"{name} '{value}' is {value.Length} characters; INQUIRY carries exactly {length}.");
        Assert.True(value.All(c => c is >= ' ' and <= '~'), $"{name} '{value}' holds characters outside printable ASCII.");
        Assert.False(string.IsNullOrWhiteSpace(value), $"{name} is blank.");
        Assert.False(value.StartsWith(' '), $"{name} '{value}' is not left-aligned.");
    }
}
