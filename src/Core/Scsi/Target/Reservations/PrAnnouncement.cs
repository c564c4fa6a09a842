using System.Buffers.Binary;
using System.Text;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// What a PERSISTENT RESERVE OUT run by one target does to the nexuses of the other targets of a shared medium, as
/// bytes that travel with the new state (<see cref="Stores.SharedReservationState.Announcement"/>): the unit
/// attentions it established (RESERVATIONS PREEMPTED, RESERVATIONS RELEASED, REGISTRATIONS PREEMPTED, each with its
/// recipients and the issuing nexus) and, for PREEMPT AND ABORT, the nexuses whose tasks are to be aborted. The
/// receiving target establishes the same conditions on its own nexuses and aborts their tasks.
/// </summary>
/// <remarks>
/// Layout, big-endian: version u8 (1); unit attention count u16, each: recipients (pattern), issuer present u8 and
/// the issuing nexus, sense key, ASC, ASCQ; abort count u16, each a pattern. A pattern: flags u8 (bit 0 ISID, bit 1
/// relative target port), ISID u64, relative target port u16, name. A nexus: initiator name, ISID u64, target name,
/// TPGT u16, relative target port u16. A name: length u16, UTF-8.
/// </remarks>
public static class PrAnnouncement
{
    private const byte Version = 1;
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>The announcement of <paramref name="outcome"/>, or empty when it does nothing to other nexuses.</summary>
    public static byte[] Encode(in PrOutcome outcome)
    {
        var uas = outcome.UnitAttentions;
        var aborts = outcome.AbortTasksOf;
        if (uas.Count == 0 && aborts.Count == 0) return [];
        using var stream = new MemoryStream();
        stream.WriteByte(Version);
        WriteU16(stream, uas.Count);
        foreach (var ua in uas)
        {
            WritePattern(stream, ua.Recipients);
            // default(ItNexus) (no issuer) has no names, whatever their declared nullability.
            string? issuerName = ua.Except.InitiatorName;
            stream.WriteByte(issuerName is null ? (byte)0 : (byte)1);
            if (issuerName is not null)
            {
                WriteName(stream, issuerName);
                WriteU64(stream, ua.Except.Isid);
                WriteName(stream, ua.Except.TargetName);
                WriteU16(stream, ua.Except.Tpgt);
                WriteU16(stream, ua.Except.RelativeTargetPortId);
            }
            stream.WriteByte(ua.Condition.Key);
            stream.WriteByte(ua.Condition.Asc);
            stream.WriteByte(ua.Condition.Ascq);
        }
        WriteU16(stream, aborts.Count);
        foreach (var pattern in aborts) WritePattern(stream, pattern);
        return stream.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not an announcement this build reads.</exception>
    public static (IReadOnlyList<PrUnitAttention> UnitAttentions, IReadOnlyList<ItNexusPattern> AbortTasksOf) Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        byte version = r.U8();
        if (version != Version) throw new InvalidDataException($"A reservation announcement of version {version} (this build reads {Version}).");
        var uas = new List<PrUnitAttention>();
        for (int i = r.U16(); i > 0; i--)
        {
            var recipients = r.Pattern();
            ItNexus issuer = default;
            if (r.U8() != 0)
            {
                try { issuer = new ItNexus(r.Name(), r.U64(), r.Name(), r.U16(), r.U16()); }
                catch (ArgumentException e) { throw new InvalidDataException($"A reservation announcement names an invalid issuing nexus: {e.Message}"); }
            }
            var condition = new SenseCondition(r.U8(), r.U8(), r.U8());
            uas.Add(new PrUnitAttention(recipients, issuer, condition));
        }
        var aborts = new List<ItNexusPattern>();
        for (int i = r.U16(); i > 0; i--) aborts.Add(r.Pattern());
        if (!r.AtEnd) throw new InvalidDataException("Bytes left over after a reservation announcement.");
        return (uas, aborts);
    }

    private static void WritePattern(Stream s, in ItNexusPattern p)
    {
        s.WriteByte((byte)((p.Isid.HasValue ? 1 : 0) | (p.RelativeTargetPortId.HasValue ? 2 : 0)));
        WriteU64(s, p.Isid ?? 0);
        WriteU16(s, p.RelativeTargetPortId ?? 0);
        WriteName(s, p.InitiatorName);
    }

    private static void WriteName(Stream s, string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        WriteU16(s, bytes.Length);
        s.Write(bytes);
    }

    private static void WriteU16(Stream s, int value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, checked((ushort)value));
        s.Write(b);
    }

    private static void WriteU64(Stream s, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        s.Write(b);
    }

    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _at;

        public readonly bool AtEnd => _at == _bytes.Length;

        private ReadOnlySpan<byte> Take(int n)
        {
            if (_at + n > _bytes.Length) throw new InvalidDataException("A reservation announcement is truncated.");
            var s = _bytes.Slice(_at, n);
            _at += n;
            return s;
        }

        public byte U8() => Take(1)[0];
        public ushort U16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));
        public ulong U64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

        public string Name()
        {
            try { return StrictUtf8.GetString(Take(U16())); }
            catch (DecoderFallbackException) { throw new InvalidDataException("A reservation announcement holds a name that is not UTF-8."); }
        }

        public ItNexusPattern Pattern()
        {
            byte flags = U8();
            ulong isid = U64();
            ushort port = U16();
            return new ItNexusPattern(Name(), (flags & 1) != 0 ? isid : null, (flags & 2) != 0 ? port : null);
        }
    }
}
