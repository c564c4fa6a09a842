using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target.Copy;

/// <summary>
/// The parameter list of EXTENDED COPY (LID1) (SPC-4 §6.4): the header, the copy source and destination (CSCD)
/// descriptors — identification descriptors (E4h) naming a logical unit by a VPD page 83h designator — and the segment
/// descriptors: block to block (02h, a count of blocks) and block to block with offsets (0Ah, a count of bytes). Parsing
/// checks everything a copy needs before any data moves, in the order libiscsi and SPC-4 expect: list lengths, then
/// descriptor counts, then descriptor types.
/// </summary>
public sealed class ExtendedCopyRequest
{
    public const int HeaderLength = 16;
    public const int CscdDescriptorLength = 32;
    public const byte IdentificationDescriptor = 0xE4;
    public const byte BlockToBlock = 0x02;
    public const byte BlockToBlockWithOffsets = 0x0A;

    /// <summary>A copy source or destination: a logical unit's designator (code set, association, type, value) and its block length.</summary>
    public readonly record struct Cscd(byte CodeSet, byte Association, byte DesignatorType, byte[] Designator, int BlockLength);

    /// <summary>One segment: from CSCD <see cref="Source"/> to <see cref="Destination"/>; a length in blocks (02h) or bytes (0Ah).</summary>
    public readonly record struct Segment(byte Type, int Source, int Destination, long Blocks, long Bytes, ulong SourceLba, ulong DestinationLba,
        int SourceByteOffset, int DestinationByteOffset);

    public byte ListId { get; private init; }
    /// <summary>LIST ID USAGE: 00b keeps the results for RECEIVE COPY RESULTS; 10b does not; 11b has no list identifier
    /// at all (it must be 0); 01b is reserved.</summary>
    public int ListIdUsage { get; private init; }
    public IReadOnlyList<Cscd> Cscds { get; private init; } = [];
    public IReadOnlyList<Segment> Segments { get; private init; } = [];
    public bool HoldsResults => ListIdUsage == 0;

    /// <summary>Why a parameter list is refused: the sense to answer with, pointing into the parameter list where it helps.</summary>
    public readonly record struct Refusal(SenseCondition Condition, int? ParameterByte = null)
    {
        public ScsiCommandResult ToResult(int dataOutLength) => ScsiCommandResult.CheckCondition(ParameterByte is { } b
            ? SenseBuilder.ParameterField(Condition, b)
            : SenseBuilder.Fixed(Condition), dataOutLength: dataOutLength);
    }

    public static readonly SenseCondition TooManyTargetDescriptors = new(SenseCondition.KeyIllegalRequest, 0x26, 0x06);
    public static readonly SenseCondition UnsupportedTargetDescriptorType = new(SenseCondition.KeyIllegalRequest, 0x26, 0x07);
    public static readonly SenseCondition TooManySegmentDescriptors = new(SenseCondition.KeyIllegalRequest, 0x26, 0x08);
    public static readonly SenseCondition UnsupportedSegmentDescriptorType = new(SenseCondition.KeyIllegalRequest, 0x26, 0x09);
    public static readonly SenseCondition ParameterListLengthError = new(SenseCondition.KeyIllegalRequest, 0x1a, 0x00);
    public static readonly SenseCondition InvalidFieldInParameterList = new(SenseCondition.KeyIllegalRequest, 0x26, 0x00);

    /// <summary>Parses <paramref name="list"/> against <paramref name="limits"/>; null with <paramref name="refusal"/> set when refused.</summary>
    public static ExtendedCopyRequest? TryParse(ReadOnlySpan<byte> list, CopyLimits limits, out Refusal refusal)
    {
        refusal = default;
        if (list.Length < HeaderLength)
        {
            refusal = new(ParameterListLengthError);
            return null;
        }
        int usage = (list[1] >> 3) & 0x03;
        if (usage == 1 || usage == 3 && list[0] != 0)
        {
            refusal = new(InvalidFieldInParameterList, 1);
            return null;
        }
        if ((list[1] & 0x20) != 0) // STR: stream device transfers are not supported (no stream devices)
        {
            refusal = new(InvalidFieldInParameterList, 1);
            return null;
        }
        int cscdLength = BinaryPrimitives.ReadUInt16BigEndian(list[2..]);
        long segmentLength = BinaryPrimitives.ReadUInt32BigEndian(list[8..]);
        long inlineLength = BinaryPrimitives.ReadUInt32BigEndian(list[12..]);
        if (inlineLength > limits.MaxInlineDataLength)
        {
            refusal = new(InvalidFieldInParameterList, 12);
            return null;
        }
        long descriptors = cscdLength + segmentLength;
        // Longer than we take at all, or than what came: the list's length is wrong.
        if (descriptors > limits.MaxDescriptorListLength || HeaderLength + descriptors + inlineLength > list.Length)
        {
            refusal = new(ParameterListLengthError);
            return null;
        }
        if (cscdLength % CscdDescriptorLength != 0)
        {
            refusal = new(ParameterListLengthError);
            return null;
        }
        int cscdCount = cscdLength / CscdDescriptorLength;
        if (cscdCount > limits.MaxCscdDescriptors)
        {
            refusal = new(TooManyTargetDescriptors);
            return null;
        }
        var cscds = new List<Cscd>(cscdCount);
        for (int i = 0; i < cscdCount; i++)
        {
            int at = HeaderLength + i * CscdDescriptorLength;
            var d = list.Slice(at, CscdDescriptorLength);
            if (d[0] != IdentificationDescriptor)
            {
                refusal = new(UnsupportedTargetDescriptorType, at);
                return null;
            }
            // Byte 1: LU ID TYPE is ignored (SPC-4), NUL is obsolete; PERIPHERAL DEVICE TYPE must be a block device.
            if ((d[1] & 0x1F) != 0)
            {
                refusal = new(UnsupportedTargetDescriptorType, at + 1);
                return null;
            }
            int designatorLength = d[7];
            if (designatorLength > 20)
            {
                refusal = new(InvalidFieldInParameterList, at + 7);
                return null;
            }
            int blockLength = (d[29] << 16) | (d[30] << 8) | d[31];
            cscds.Add(new Cscd((byte)(d[4] & 0x0F), (byte)((d[5] >> 4) & 0x03), (byte)(d[5] & 0x0F),
                d.Slice(8, designatorLength).ToArray(), blockLength));
        }

        var segments = new List<Segment>();
        int offset = HeaderLength + cscdLength;
        int end = offset + (int)segmentLength;
        while (offset < end)
        {
            if (end - offset < 4)
            {
                refusal = new(ParameterListLengthError);
                return null;
            }
            var d = list[offset..end];
            byte type = d[0];
            int length = BinaryPrimitives.ReadUInt16BigEndian(d[2..]) + 4;
            if (type is not (BlockToBlock or BlockToBlockWithOffsets))
            {
                refusal = new(UnsupportedSegmentDescriptorType, offset);
                return null;
            }
            int expected = type == BlockToBlock ? 28 : 32;
            if (length != expected)
            {
                refusal = new(InvalidFieldInParameterList, offset + 2);
                return null;
            }
            if (d.Length < expected)
            {
                refusal = new(ParameterListLengthError);
                return null;
            }
            if (segments.Count == limits.MaxSegmentDescriptors)
            {
                refusal = new(TooManySegmentDescriptors);
                return null;
            }
            int source = BinaryPrimitives.ReadUInt16BigEndian(d[4..]);
            int destination = BinaryPrimitives.ReadUInt16BigEndian(d[6..]);
            ulong sourceLba = BinaryPrimitives.ReadUInt64BigEndian(d[12..]);
            ulong destinationLba = BinaryPrimitives.ReadUInt64BigEndian(d[20..]);
            segments.Add(type == BlockToBlock
                ? new Segment(type, source, destination, BinaryPrimitives.ReadUInt16BigEndian(d[10..]), 0, sourceLba, destinationLba, 0, 0)
                : new Segment(type, source, destination, 0, BinaryPrimitives.ReadUInt32BigEndian(d[8..]), sourceLba, destinationLba,
                    BinaryPrimitives.ReadUInt16BigEndian(d[28..]), BinaryPrimitives.ReadUInt16BigEndian(d[30..])));
            offset += expected;
        }
        return new ExtendedCopyRequest { ListId = list[0], ListIdUsage = usage, Cscds = cscds, Segments = segments };
    }
}
