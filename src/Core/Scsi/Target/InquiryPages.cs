using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// The INQUIRY data of one block device, built once: standard data (SPC-4 §6.6.2) and the vital product data
/// pages 00h, 80h, 83h (SPC-4 §7.8) and B0h, B1h, B2h (SBC-4 §6.6). Every page is stored whole; INQUIRY copies
/// at most the allocation length of it.
/// </summary>
internal sealed class InquiryPages
{
    public const string VendorId = "ISER";

    public const byte SupportedPagesCode = 0x00;
    public const byte UnitSerialNumberCode = 0x80;
    public const byte DeviceIdentificationCode = 0x83;
    public const byte BlockLimitsCode = 0xB0;
    public const byte BlockDeviceCharacteristicsCode = 0xB1;
    public const byte LogicalBlockProvisioningCode = 0xB2;
    public const byte ThirdPartyCopyCode = 0x8F;

    private readonly Dictionary<byte, byte[]> _vpd = new();

    public InquiryPages(in Geometry geometry, BlockDeviceOptions options, string identity)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(identity));
        SerialNumber = Convert.ToHexString(hash, 0, 8);
        NaaIdentifier = new byte[8];
        hash.AsSpan(8, 8).CopyTo(NaaIdentifier);
        NaaIdentifier[0] = (byte)(0x30 | (NaaIdentifier[0] & 0x0F)); // NAA 3h: locally assigned

        Standard = BuildStandard(options);
        StandardWithAlua = (byte[])Standard.Clone();
        StandardWithAlua[5] |= 0x30; // TPGS 11b: implicit (the library) and explicit (SET TARGET PORT GROUPS) ALUA
        _vpd[UnitSerialNumberCode] = BuildSerial(SerialNumber);
        _vpd[DeviceIdentificationCode] = BuildDeviceIdentification(NaaIdentifier, SerialNumber);
        _vpd[BlockLimitsCode] = BuildBlockLimits(geometry, options);
        _vpd[BlockDeviceCharacteristicsCode] = BuildBlockDeviceCharacteristics(geometry.ThinProvisioned);
        _vpd[LogicalBlockProvisioningCode] = BuildLogicalBlockProvisioning(geometry.ThinProvisioned);
        _vpd[ThirdPartyCopyCode] = BuildThirdPartyCopy();
        _vpd[SupportedPagesCode] = BuildSupportedPages([SupportedPagesCode, .. _vpd.Keys]);
    }

    /// <summary>What the LU derives its INQUIRY answers from.</summary>
    public readonly record struct Geometry(int BlockSize, int BlocksPerPhysicalBlock, bool ThinProvisioned, int MaxAtomicTransferBlocks);

    public byte[] Standard { get; }
    /// <summary>The standard data as a logical unit in a target with ALUA reports it (TPGS set).</summary>
    public byte[] StandardWithAlua { get; }
    public string SerialNumber { get; }
    public byte[] NaaIdentifier { get; }

    public byte[]? Vpd(byte pageCode) => _vpd.GetValueOrDefault(pageCode);

    private static byte[] BuildStandard(BlockDeviceOptions options)
    {
        var d = new byte[96];
        d[0] = 0x00; // peripheral qualifier 0 (connected), device type 0 (direct access block device)
        d[1] = options.Removable ? (byte)0x80 : (byte)0x00; // RMB
        d[2] = 0x06; // VERSION: SPC-4
        d[3] = 0x12; // HISUP, response data format 2
        d[4] = (byte)(d.Length - 5); // additional length
        d[5] = 0x08; // 3PC: a copy manager (EXTENDED COPY); no SCCS/ACC/TPGS/PROTECT
        d[6] = 0x00;
        d[7] = 0x02; // CMDQUE: full task management
        WriteAscii(d.AsSpan(8, 8), VendorId);
        WriteAscii(d.AsSpan(16, 16), options.ProductId);
        WriteAscii(d.AsSpan(32, 4), options.ProductRevision);
        // Version descriptors (SPC-4 table 148): SAM-5, iSCSI, SPC-4, SBC-3.
        ushort[] versions = [0x00A0, 0x0960, 0x0460, 0x04C0];
        for (int i = 0; i < versions.Length; i++)
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(58 + 2 * i, 2), versions[i]);
        return d;
    }

    private static byte[] BuildSupportedPages(IEnumerable<byte> codes)
    {
        var sorted = codes.Distinct().Order().ToArray();
        var d = new byte[4 + sorted.Length];
        d[1] = SupportedPagesCode;
        d[3] = (byte)sorted.Length;
        sorted.CopyTo(d, 4);
        return d;
    }

    private static byte[] BuildSerial(string serial)
    {
        var d = new byte[4 + serial.Length];
        d[1] = UnitSerialNumberCode;
        d[3] = (byte)serial.Length;
        Encoding.ASCII.GetBytes(serial, d.AsSpan(4));
        return d;
    }

    private static byte[] BuildDeviceIdentification(byte[] naa, string serial)
    {
        // Two designators, both associated with the logical unit:
        // NAA (binary, type 3) and T10 vendor ID (ASCII, type 1) = vendor id padded to 8 + serial.
        int t10Length = 8 + serial.Length;
        var d = new byte[4 + (4 + naa.Length) + (4 + t10Length)];
        d[1] = DeviceIdentificationCode;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2, 2), (ushort)(d.Length - 4));
        int p = 4;
        d[p] = 0x01; d[p + 1] = 0x03; d[p + 3] = (byte)naa.Length;
        naa.CopyTo(d, p + 4);
        p += 4 + naa.Length;
        d[p] = 0x02; d[p + 1] = 0x01; d[p + 3] = (byte)t10Length;
        WriteAscii(d.AsSpan(p + 4, 8), VendorId);
        Encoding.ASCII.GetBytes(serial, d.AsSpan(p + 12));
        return d;
    }

    /// <summary>
    /// Page 83h as seen through one target port: the logical unit's designators, then the port's relative target port
    /// identifier (type 4h) and its target port group (type 5h), both associated with the target port (01b) and marked
    /// as iSCSI's (PIV, protocol identifier 5h) (SPC-4 §7.8.6.5, §7.8.6.6). Built per command: INQUIRY is not hot.
    /// </summary>
    public byte[] DeviceIdentificationThrough(ushort relativeTargetPortId, ushort targetPortGroup)
    {
        var logicalUnit = _vpd[DeviceIdentificationCode];
        var d = new byte[logicalUnit.Length + 16];
        logicalUnit.CopyTo(d, 0);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2, 2), (ushort)(d.Length - 4));
        WritePortDesignator(d.AsSpan(logicalUnit.Length, 8), 0x4, relativeTargetPortId);
        WritePortDesignator(d.AsSpan(logicalUnit.Length + 8, 8), 0x5, targetPortGroup);
        return d;

        static void WritePortDesignator(Span<byte> p, byte type, ushort value)
        {
            p[0] = 0x51;                 // protocol identifier 5h (iSCSI), code set 1h (binary)
            p[1] = (byte)(0x80 | 0x10 | type); // PIV, association 01b (target port), designator type
            p[3] = 4;                    // designator length: 2 reserved bytes and the 16-bit value
            BinaryPrimitives.WriteUInt16BigEndian(p[6..], value);
        }
    }

    private static byte[] BuildBlockLimits(in Geometry g, BlockDeviceOptions o)
    {
        var d = new byte[64];
        d[1] = BlockLimitsCode;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2, 2), 0x3C);
        d[4] = 0x00; // WSNZ = 0: a WRITE SAME of 0 blocks means "to the end of the medium"
        d[5] = (byte)o.MaxCompareAndWriteBlocks;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(6, 2), (ushort)g.BlocksPerPhysicalBlock); // optimal transfer granularity
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(8, 4), (uint)(o.MaxTransferBytes / g.BlockSize));
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(12, 4), (uint)Math.Max(1, o.OptimalTransferBytes / g.BlockSize));
        if (g.ThinProvisioned)
        {
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(20, 4), o.MaxUnmapBlocks);
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(24, 4), o.MaxUnmapDescriptors);
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(28, 4), (uint)g.BlocksPerPhysicalBlock); // optimal unmap granularity
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(32, 4), 0x8000_0000u); // UGAVALID, alignment 0
        }
        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(36, 8), (ulong)o.MaxWriteSameBlocks);
        // WRITE ATOMIC(16) (SBC-4 §4.29): MAXIMUM ATOMIC TRANSFER LENGTH; ATOMIC ALIGNMENT and ATOMIC TRANSFER LENGTH
        // GRANULARITY 0 (no requirement); atomic boundaries are not offered (both boundary fields 0).
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(44, 4), (uint)g.MaxAtomicTransferBlocks);
        return d;
    }

    /// <summary>
    /// Third-party Copy (SPC-4 §7.8.17): the copy commands supported (EXTENDED COPY LID1; RECEIVE COPY RESULTS COPY STATUS
    /// and OPERATING PARAMETERS) and the descriptors (block to block, with offsets, identification CSCD).
    /// </summary>
    private static byte[] BuildThirdPartyCopy()
    {
        byte[] commands = [0x83, 1, 0x00, 0x84, 2, 0x00, 0x03];
        byte[] descriptors = [0x02, 0x0A, 0xE4];
        int supportedCommands = 4 + RoundUp4(1 + commands.Length), supportedDescriptors = 4 + RoundUp4(1 + descriptors.Length);
        var d = new byte[4 + supportedCommands + supportedDescriptors];
        d[1] = ThirdPartyCopyCode;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), (ushort)(d.Length - 4));
        int p = 4;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(p), 0x0001); // Supported Commands
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(p + 2), (ushort)(supportedCommands - 4));
        d[p + 4] = (byte)commands.Length;
        commands.CopyTo(d, p + 5);
        p += supportedCommands;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(p), 0x0004); // Supported Descriptors
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(p + 2), (ushort)(supportedDescriptors - 4));
        d[p + 4] = (byte)descriptors.Length;
        descriptors.CopyTo(d, p + 5);
        return d;

        static int RoundUp4(int n) => (n + 3) & ~3;
    }

    /// <param name="erase">SANITIZE BLOCK ERASE and CRYPTOGRAPHIC ERASE are offered (on a thin-provisioned unit).</param>
    private static byte[] BuildBlockDeviceCharacteristics(bool erase)
    {
        var d = new byte[64];
        d[1] = BlockDeviceCharacteristicsCode;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2, 2), 0x3C);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(4, 2), 0x0001); // MEDIUM ROTATION RATE: non-rotating
        // WABEREQ and WACEREQ 01b: a read of a block after BLOCK ERASE / CRYPTOGRAPHIC ERASE completes with GOOD
        // status (SBC-4 §6.6.2); 00b, not specified, where neither is offered.
        if (erase) d[7] = 0x50;
        return d;
    }

    private static byte[] BuildLogicalBlockProvisioning(bool thin)
    {
        var d = new byte[8];
        d[1] = LogicalBlockProvisioningCode;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2, 2), 4);
        d[4] = 0; // threshold exponent: no thresholds
        if (thin)
        {
            d[5] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ (unmapped blocks read as zeros)
            d[6] = 0x02; // provisioning type: thin provisioned
        }
        return d;
    }

    private static void WriteAscii(Span<byte> field, string text)
    {
        field.Fill((byte)' ');
        for (int i = 0; i < text.Length && i < field.Length; i++)
            field[i] = text[i] is >= ' ' and <= '~' ? (byte)text[i] : (byte)'?';
    }
}
