using System.Buffers.Binary;

namespace Iser.Core.Scsi;

/// <summary>
/// Decoded sense data (SPC-4), fixed or descriptor format. Parsing copies the few fields it needs, so the
/// instance does not hold on to the caller's buffer. Sense data cut short by an allocation length is accepted
/// as far as it goes (fields beyond the end read as zero); data too short to hold the header is an error.
/// </summary>
public sealed class SenseData
{
    /// <summary>Response code 0x70..0x73 (without the VALID bit).</summary>
    public byte ResponseCode { get; private init; }
    public SenseDataFormat Format { get; private init; }
    /// <summary>Deferred error (0x71/0x73): the sense reports an earlier command's failure, not this one's.</summary>
    public bool IsDeferred { get; private init; }
    public SenseKey SenseKey { get; private init; }
    /// <summary>Additional sense code.</summary>
    public byte Asc { get; private init; }
    /// <summary>Additional sense code qualifier.</summary>
    public byte Ascq { get; private init; }
    /// <summary>The INFORMATION field holds a value defined by the command (e.g. the first failing LBA).</summary>
    public bool InformationValid { get; private init; }
    /// <summary>INFORMATION (4 bytes in fixed format, 8 in descriptor format). Meaningful when <see cref="InformationValid"/>.</summary>
    public ulong Information { get; private init; }
    public ulong CommandSpecificInformation { get; private init; }
    public bool Filemark { get; private init; }
    public bool EndOfMedium { get; private init; }
    /// <summary>Incorrect length indicator.</summary>
    public bool IncorrectLength { get; private init; }
    public byte FieldReplaceableUnitCode { get; private init; }
    /// <summary>SKSV: <see cref="SenseKeySpecific"/> holds a field pointer, progress indication or retry count.</summary>
    public bool SenseKeySpecificValid { get; private init; }
    /// <summary>The 3 sense-key-specific bytes as a 24-bit big-endian value (SKSV bit included in bit 23).</summary>
    public int SenseKeySpecific { get; private init; }

    public AdditionalSenseCode AdditionalSenseCode => new(Asc, Ascq);

    /// <summary>
    /// For ILLEGAL REQUEST with SKSV: the byte (and optionally bit) in the CDB or parameter list that was wrong.
    /// Null when the sense does not carry a field pointer.
    /// </summary>
    public SenseFieldPointer? FieldPointer =>
        SenseKeySpecificValid && SenseKey == SenseKey.IllegalRequest
            ? new SenseFieldPointer(
                InCdb: (SenseKeySpecific & 0x40_0000) != 0,
                ByteOffset: (ushort)(SenseKeySpecific & 0xffff),
                BitPosition: (SenseKeySpecific & 0x08_0000) != 0 ? (byte)((SenseKeySpecific >> 16) & 0x7) : null)
            : null;

    /// <summary>For NOT READY / NO SENSE with SKSV: progress of a long operation, 0.0 to 1.0.</summary>
    public double? Progress =>
        SenseKeySpecificValid && SenseKey is SenseKey.NotReady or SenseKey.NoSense
            ? (SenseKeySpecific & 0xffff) / 65536.0
            : null;

    private SenseData() { }

    /// <summary>Decodes sense data; throws <see cref="ScsiDataFormatException"/> when it cannot.</summary>
    public static SenseData Parse(ReadOnlySpan<byte> sense)
    {
        if (sense.IsEmpty)
            throw new ScsiDataFormatException("Sense data is empty; at least 1 byte (the response code) is needed.");
        byte responseCode = (byte)(sense[0] & 0x7f);
        return responseCode switch
        {
            0x70 or 0x71 => ParseFixed(sense, responseCode),
            0x72 or 0x73 => ParseDescriptor(sense, responseCode),
            0x7f => throw new ScsiDataFormatException("Sense data uses vendor-specific format (response code 0x7F), which cannot be decoded."),
            _ => throw new ScsiDataFormatException($"Sense data has response code 0x{responseCode:X2}; only 0x70-0x73 are defined by SPC-4."),
        };
    }

    public static bool TryParse(ReadOnlySpan<byte> sense, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SenseData? result)
    {
        try { result = Parse(sense); return true; }
        catch (ScsiDataFormatException) { result = null; return false; }
    }

    /// <summary>
    /// Decodes the data segment of an iSCSI SCSI Response (RFC 7143 §11.4.7.2): a 2-byte SenseLength followed by
    /// that many bytes of sense data (and possibly a response data part, which is ignored).
    /// </summary>
    public static SenseData ParseIscsiSenseSegment(ReadOnlySpan<byte> dataSegment)
    {
        ScsiDataFormatException.ThrowIfShorter("The SCSI Response data segment", dataSegment.Length, 2, "the SenseLength field");
        int senseLength = BinaryPrimitives.ReadUInt16BigEndian(dataSegment);
        if (2 + senseLength > dataSegment.Length)
            throw new ScsiDataFormatException(
                $"The SCSI Response data segment says SenseLength is {senseLength} but only {dataSegment.Length - 2} bytes of sense follow.");
        return Parse(dataSegment.Slice(2, senseLength));
    }

    private static SenseData ParseFixed(ReadOnlySpan<byte> sense, byte responseCode)
    {
        // Byte 7 (ADDITIONAL SENSE LENGTH) bounds everything after the 8-byte header.
        ScsiDataFormatException.ThrowIfShorter("Fixed-format sense data", sense.Length, 8, "the header through ADDITIONAL SENSE LENGTH");
        int end = Math.Min(sense.Length, 8 + sense[7]);
        ReadOnlySpan<byte> s = sense[..end];
        byte b2 = s[2];
        int sks = s.Length >= 18 ? (s[15] << 16) | (s[16] << 8) | s[17] : 0;
        return new SenseData
        {
            ResponseCode = responseCode,
            Format = SenseDataFormat.Fixed,
            IsDeferred = responseCode == 0x71,
            InformationValid = (sense[0] & 0x80) != 0,
            Filemark = (b2 & 0x80) != 0,
            EndOfMedium = (b2 & 0x40) != 0,
            IncorrectLength = (b2 & 0x20) != 0,
            SenseKey = (SenseKey)(b2 & 0x0f),
            Information = BinaryPrimitives.ReadUInt32BigEndian(s.Slice(3, 4)),
            CommandSpecificInformation = s.Length >= 12 ? BinaryPrimitives.ReadUInt32BigEndian(s.Slice(8, 4)) : 0,
            Asc = s.Length >= 13 ? s[12] : (byte)0,
            Ascq = s.Length >= 14 ? s[13] : (byte)0,
            FieldReplaceableUnitCode = s.Length >= 15 ? s[14] : (byte)0,
            SenseKeySpecificValid = (sks & 0x80_0000) != 0,
            SenseKeySpecific = sks,
        };
    }

    private static SenseData ParseDescriptor(ReadOnlySpan<byte> sense, byte responseCode)
    {
        ScsiDataFormatException.ThrowIfShorter("Descriptor-format sense data", sense.Length, 8, "the header through ADDITIONAL SENSE LENGTH");
        int end = Math.Min(sense.Length, 8 + sense[7]);
        bool infoValid = false, sksv = false, ili = false;
        ulong info = 0, csi = 0;
        int sks = 0;
        byte fru = 0;
        // Walk the sense data descriptors: type, additional length (n-1), payload. A descriptor cut short by the
        // allocation length ends the walk; what was complete is kept.
        for (int p = 8; p + 2 <= end;)
        {
            byte type = sense[p];
            int len = 2 + sense[p + 1];
            if (p + len > end) break;
            ReadOnlySpan<byte> d = sense.Slice(p, len);
            switch (type)
            {
                case 0x00 when d.Length >= 12: // Information
                    infoValid = (d[2] & 0x80) != 0;
                    info = BinaryPrimitives.ReadUInt64BigEndian(d.Slice(4, 8));
                    break;
                case 0x01 when d.Length >= 12: // Command-specific information
                    csi = BinaryPrimitives.ReadUInt64BigEndian(d.Slice(4, 8));
                    break;
                case 0x02 when d.Length >= 7: // Sense key specific
                    sks = (d[4] << 16) | (d[5] << 8) | d[6];
                    sksv = (d[4] & 0x80) != 0;
                    break;
                case 0x03 when d.Length >= 4: // Field replaceable unit
                    fru = d[3];
                    break;
                case 0x05 when d.Length >= 4: // Block commands: ILI
                    ili = (d[3] & 0x20) != 0;
                    break;
            }
            p += len;
        }
        return new SenseData
        {
            ResponseCode = responseCode,
            Format = SenseDataFormat.Descriptor,
            IsDeferred = responseCode == 0x73,
            SenseKey = (SenseKey)(sense[1] & 0x0f),
            Asc = sense[2],
            Ascq = sense[3],
            InformationValid = infoValid,
            Information = info,
            CommandSpecificInformation = csi,
            IncorrectLength = ili,
            FieldReplaceableUnitCode = fru,
            SenseKeySpecificValid = sksv,
            SenseKeySpecific = sks,
        };
    }

    /// <summary>E.g. "ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)".</summary>
    public string Describe()
    {
        string text = SenseText.Describe(SenseKey, Asc, Ascq);
        if (IsDeferred) text = "DEFERRED ERROR: " + text;
        return text;
    }

    /// <summary>
    /// <see cref="Describe"/> plus the details a user needs to act: the INFORMATION field when valid, the CDB field
    /// pointer of an ILLEGAL REQUEST, progress of a NOT READY operation.
    /// </summary>
    public string DescribeDetailed()
    {
        var text = Describe();
        if (InformationValid) text += $", information 0x{Information:X}";
        if (FieldPointer is { } fp) text += ", " + fp.Describe();
        if (Progress is { } pr) text += $", {pr * 100:0.#}% done";
        return text;
    }

    public override string ToString() => DescribeDetailed();
}
