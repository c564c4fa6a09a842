namespace Iser.Core.Scsi.Initiator;

/// <summary>Standard INQUIRY data (SPC-4): what the logical unit is and who made it.</summary>
public sealed class InquiryData
{
    /// <summary>Bytes through PRODUCT REVISION LEVEL; SPC-4 requires at least this much.</summary>
    public const int MinimumLength = 36;

    /// <summary>0: device connected; 1: supported but not connected; 3: no LU at this LUN.</summary>
    public byte PeripheralQualifier { get; private init; }
    public PeripheralDeviceType DeviceType { get; private init; }
    public bool Removable { get; private init; }
    /// <summary>VERSION: 0x04 SPC-2, 0x05 SPC-3, 0x06 SPC-4, 0x07 SPC-5, 0 no claim.</summary>
    public byte Version { get; private init; }
    public byte ResponseDataFormat { get; private init; }
    public bool HierarchicalSupport { get; private init; }
    /// <summary>TPGS: asymmetric logical unit access support (0 none, 1 implicit, 2 explicit, 3 both).</summary>
    public byte TargetPortGroupSupport { get; private init; }
    public bool ThirdPartyCopy { get; private init; }
    /// <summary>PROTECT: the LU supports protection information.</summary>
    public bool Protect { get; private init; }
    public bool CommandQueueing { get; private init; }
    /// <summary>T10 VENDOR IDENTIFICATION, trailing spaces removed.</summary>
    public string Vendor { get; private init; } = "";
    public string Product { get; private init; } = "";
    public string Revision { get; private init; } = "";
    /// <summary>4 + ADDITIONAL LENGTH: the full length the device server has (a larger allocation length gets it all).</summary>
    public int AvailableLength { get; private init; }

    /// <summary>True when an LU is connected at this LUN (qualifier 0).</summary>
    public bool IsConnected => PeripheralQualifier == 0;

    /// <summary>"SPC-4" etc. for <see cref="Version"/>.</summary>
    public string VersionName => Version switch
    {
        0x00 => "no standard claimed",
        0x03 => "SPC",
        0x04 => "SPC-2",
        0x05 => "SPC-3",
        0x06 => "SPC-4",
        0x07 => "SPC-5",
        _ => $"version 0x{Version:X2}",
    };

    private InquiryData() { }

    public static InquiryData Parse(ReadOnlySpan<byte> data)
    {
        ScsiDataFormatException.ThrowIfShorter("Standard INQUIRY data", data.Length, MinimumLength,
            "the vendor, product and revision fields");
        return new InquiryData
        {
            PeripheralQualifier = (byte)(data[0] >> 5),
            DeviceType = (PeripheralDeviceType)(data[0] & 0x1f),
            Removable = (data[1] & 0x80) != 0,
            Version = data[2],
            HierarchicalSupport = (data[3] & 0x10) != 0,
            ResponseDataFormat = (byte)(data[3] & 0x0f),
            AvailableLength = 4 + data[4],
            TargetPortGroupSupport = (byte)((data[5] >> 4) & 0x03),
            ThirdPartyCopy = (data[5] & 0x08) != 0,
            Protect = (data[5] & 0x01) != 0,
            CommandQueueing = (data[7] & 0x02) != 0,
            Vendor = ScsiAscii.Trimmed(data.Slice(8, 8)),
            Product = ScsiAscii.Trimmed(data.Slice(16, 16)),
            Revision = ScsiAscii.Trimmed(data.Slice(32, 4)),
        };
    }

    public override string ToString() => $"{Vendor} {Product} {Revision} ({DeviceType}, {VersionName})";
}
