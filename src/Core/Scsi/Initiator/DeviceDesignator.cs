using System.Text;

namespace Iser.Core.Scsi.Initiator;

/// <summary>One designation descriptor of the Device Identification VPD page 0x83 (SPC-4).</summary>
public sealed class DeviceDesignator
{
    /// <summary>Protocol identifier (5 = iSCSI); meaningful when <see cref="ProtocolIdentifierValid"/>.</summary>
    public byte ProtocolIdentifier { get; init; }
    public bool ProtocolIdentifierValid { get; init; }
    public DesignatorCodeSet CodeSet { get; init; }
    public DesignatorAssociation Association { get; init; }
    public DesignatorType Type { get; init; }
    /// <summary>The designator bytes (a copy).</summary>
    public byte[] Value { get; init; } = [];

    /// <summary>
    /// The designator as text: ASCII/UTF-8 designators as their text (trailing NULs removed), binary ones as
    /// "naa.&lt;hex&gt;", "eui.&lt;hex&gt;" or plain hex; relative target port and port group as numbers.
    /// </summary>
    public string Text
    {
        get
        {
            if (CodeSet is DesignatorCodeSet.Ascii or DesignatorCodeSet.Utf8)
                return Encoding.UTF8.GetString(Value).TrimEnd('\0', ' ');
            string hex = Convert.ToHexStringLower(Value);
            return Type switch
            {
                DesignatorType.Naa => "naa." + hex,
                DesignatorType.Eui64 => "eui." + hex,
                DesignatorType.RelativeTargetPort or DesignatorType.TargetPortGroup or DesignatorType.LogicalUnitGroup
                    when Value.Length == 4 => ((Value[2] << 8) | Value[3]).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => hex,
            };
        }
    }

    public override string ToString() => $"{Association} {Type}: {Text}";
}
