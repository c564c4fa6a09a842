using System.Buffers.Binary;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>Nexuses, PERSISTENT RESERVE OUT shorthands and report decoders shared by the reservation tests.</summary>
internal static class PrTestKit
{
    public const string Target = "iqn.2025-01.org.iser:disk";

    /// <summary>Three initiators through target port 1, and the first one again through target port 2.</summary>
    public static readonly ItNexus A = Nexus("iqn.1994-05.com.redhat:alpha", 0x23d000001);
    public static readonly ItNexus B = Nexus("iqn.1994-05.com.redhat:bravo", 0x23d000002);
    public static readonly ItNexus C = Nexus("iqn.1994-05.com.redhat:charlie", 0x23d000003);
    public static readonly ItNexus A2 = Nexus("iqn.1994-05.com.redhat:alpha", 0x23d000001, port: 2);

    public static ItNexus Nexus(string initiator, ulong isid, ushort port = 1) => new(initiator, isid, Target, port, port);

    public static PrOutParameters Keys(ulong key, ulong serviceActionKey = 0, bool aptpl = false, bool allTargetPorts = false) =>
        new() { ReservationKey = key, ServiceActionReservationKey = serviceActionKey, ActivatePersistThroughPowerLoss = aptpl, AllTargetPorts = allTargetPorts };

    public static PrOutcome Register(this PersistentReservations s, in ItNexus n, ulong key, bool aptpl = false, bool allTargetPorts = false) =>
        s.Out(n, PrOutServiceAction.Register, PrType.None, Keys(0, key, aptpl, allTargetPorts));

    public static PrOutcome Reserve(this PersistentReservations s, in ItNexus n, ulong key, PrType type) =>
        s.Out(n, PrOutServiceAction.Reserve, type, Keys(key));

    public static PrOutcome Release(this PersistentReservations s, in ItNexus n, ulong key, PrType type) =>
        s.Out(n, PrOutServiceAction.Release, type, Keys(key));

    public static PrOutcome Preempt(this PersistentReservations s, in ItNexus n, ulong key, ulong victimKey, PrType type, bool abort = false) =>
        s.Out(n, abort ? PrOutServiceAction.PreemptAndAbort : PrOutServiceAction.Preempt, type, Keys(key, victimKey));

    /// <summary>A state where <paramref name="holder"/> holds a <paramref name="type"/> reservation, every nexus registered with its own key.</summary>
    public static PersistentReservations Reserved(PrType type, ItNexus holder, params (ItNexus Nexus, ulong Key)[] registrations)
    {
        var s = new PersistentReservations();
        ulong holderKey = 0;
        foreach (var (n, k) in registrations)
        {
            AssertGood(s.Register(n, k));
            if (n.Equals(holder)) holderKey = k;
        }
        AssertGood(s.Reserve(holder, holderKey, type));
        return s;
    }

    public static void AssertGood(PrOutcome o) => Assert.True(o.IsGood, $"expected GOOD, got {o}");

    public static void AssertConflict(PrOutcome o) => Assert.Equal(ScsiStatus.ReservationConflict, o.Status);

    public static void AssertCheck(PrOutcome o, byte key, byte asc, byte ascq)
    {
        Assert.Equal(ScsiStatus.CheckCondition, o.Status);
        Assert.Equal((key, asc, ascq), (o.Sense.Key, o.Sense.Asc, o.Sense.Ascq));
    }

    public static void AssertInvalidFieldInParameterList(PrOutcome o, int fieldByte, int? bit = null)
    {
        AssertCheck(o, 0x05, 0x26, 0x00);
        Assert.Equal(new PrSenseField(false, fieldByte, bit), o.Field);
    }

    public static void AssertInvalidFieldInCdb(PrOutcome o, int fieldByte, int? bit = null)
    {
        AssertCheck(o, 0x05, 0x24, 0x00);
        Assert.Equal(new PrSenseField(true, fieldByte, bit), o.Field);
    }

    public static void AssertParameterListLengthError(PrOutcome o) => AssertCheck(o, 0x05, 0x1A, 0x00);

    /// <summary>The unit attentions an outcome sends to <paramref name="nexus"/>.</summary>
    public static (byte Asc, byte Ascq)[] UnitAttentionsFor(PrOutcome o, in ItNexus nexus)
    {
        var n = nexus;
        return o.UnitAttentions.Where(u => u.Reaches(n)).Select(u => (u.Condition.Asc, u.Condition.Ascq)).ToArray();
    }

    public static byte[] In(PersistentReservations s, PrInServiceAction action, int allocation = 8192)
    {
        var buffer = new byte[allocation];
        int n = s.In(action, buffer, allocation);
        return buffer[..n];
    }

    public static ulong[] ReadKeys(PersistentReservations s)
    {
        var d = In(s, PrInServiceAction.ReadKeys);
        int count = (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(4)) / 8;
        return Enumerable.Range(0, count).Select(i => BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(8 + 8 * i))).ToArray();
    }

    /// <summary>READ RESERVATION: the reservation key and TYPE, or null when there is no reservation.</summary>
    public static (ulong Key, PrType Type)? ReadReservation(PersistentReservations s)
    {
        var d = In(s, PrInServiceAction.ReadReservation);
        if (BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(4)) == 0) return null;
        return (BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(8)), (PrType)(d[21] & 0x0F));
    }

    public sealed record Descriptor(ulong Key, bool AllTargetPorts, bool Holder, byte ScopeType, ushort RelativeTargetPortId, IscsiTransportId TransportId);

    public static Descriptor[] ReadFullStatus(PersistentReservations s)
    {
        var d = In(s, PrInServiceAction.ReadFullStatus);
        var list = new List<Descriptor>();
        int end = 8 + (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(4));
        for (int at = 8; at < end;)
        {
            var x = d.AsSpan(at);
            int idLength = (int)BinaryPrimitives.ReadUInt32BigEndian(x[20..]);
            Assert.True(IscsiTransportId.TryDecode(x.Slice(24, idLength), out var id, out _, out _));
            list.Add(new Descriptor(BinaryPrimitives.ReadUInt64BigEndian(x), (x[12] & 0x02) != 0, (x[12] & 0x01) != 0, x[13],
                BinaryPrimitives.ReadUInt16BigEndian(x[18..]), id));
            at += 24 + idLength;
        }
        return list.ToArray();
    }
}
