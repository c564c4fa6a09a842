namespace Iser.Core.Scsi.Target.Reservations;

public sealed partial class PersistentReservations
{
    private const byte LuScope = 0x0;

    /// <summary>
    /// PERSISTENT RESERVE IN (SPC-4 §6.15): writes the report into <paramref name="destination"/>, cut at
    /// <paramref name="allocationLength"/> (its length fields still give the full length), and returns the bytes
    /// written. The caller answers INVALID FIELD IN CDB for service actions outside <see cref="PrInServiceAction"/>.
    /// None of the reports depends on which nexus asks.
    /// </summary>
    public int In(PrInServiceAction action, Span<byte> destination, int allocationLength)
    {
        var w = new TruncatingWriter(destination[..Math.Clamp(allocationLength, 0, destination.Length)]);
        lock (_gate)
        {
            switch (action)
            {
                case PrInServiceAction.ReadKeys: ReadKeys(ref w); break;
                case PrInServiceAction.ReadReservation: ReadReservation(ref w); break;
                case PrInServiceAction.ReportCapabilities: ReportCapabilities(ref w); break;
                case PrInServiceAction.ReadFullStatus: ReadFullStatus(ref w); break;
                default: throw new ArgumentOutOfRangeException(nameof(action), action, "not a PERSISTENT RESERVE IN service action");
            }
        }
        return w.Written;
    }

    /// <summary>SPC-4 §6.15.2: PRgeneration, ADDITIONAL LENGTH, then every registration's key.</summary>
    private void ReadKeys(ref TruncatingWriter w)
    {
        w.UInt32(_generation);
        w.UInt32((uint)(_registrations.Count * 8));
        foreach (var r in _registrations) w.UInt64(r.Key);
    }

    /// <summary>
    /// SPC-4 §6.15.3: PRgeneration, ADDITIONAL LENGTH (0 or 16), and for a reservation the holder's key (zero under
    /// an all-registrants type, which has no single holder), SCOPE and TYPE.
    /// </summary>
    private void ReadReservation(ref TruncatingWriter w)
    {
        w.UInt32(_generation);
        if (_type == PrType.None)
        {
            w.UInt32(0);
            return;
        }
        w.UInt32(16);
        w.UInt64(_holder?.Key ?? 0);
        w.Zeros(4);                               // obsolete (scope-specific address)
        w.Zeros(1);
        w.Byte((byte)(LuScope << 4 | (byte)_type));
        w.Zeros(2);                               // obsolete (extent length)
    }

    /// <summary>
    /// SPC-4 §6.15.4: CRH 0 (RESERVE/RELEASE as SPC-2 defines them), SIP_C and ATP_C 1, PTPL_C as the options say; TMV 1 with all six
    /// types; ALLOW COMMANDS 011b (TEST UNIT READY passes every type, MODE SENSE and the like pass Write Exclusive
    /// types, as <see cref="ScsiCommandClassifier"/> sorts them); PTPL_A the current APTPL.
    /// </summary>
    private void ReportCapabilities(ref TruncatingWriter w)
    {
        w.UInt16(8);
        w.Byte((byte)(0x08 | 0x04 | (_options.PersistThroughPowerLossCapable ? 0x01 : 0x00))); // SIP_C | ATP_C | PTPL_C
        w.Byte((byte)(0x80 | 0x3 << 4 | (_aptpl ? 0x01 : 0x00))); // TMV | ALLOW COMMANDS 011b | PTPL_A
        w.Byte(0x80 | 0x40 | 0x20 | 0x08 | 0x02); // WR_EX_AR | EX_AC_RO | WR_EX_RO | EX_AC | WR_EX
        w.Byte(0x01);                             // EX_AC_AR
        w.Zeros(2);
    }

    /// <summary>
    /// SPC-4 §6.15.5: PRgeneration, ADDITIONAL LENGTH, then per registration a 24-byte descriptor (key, ALL_TG_PT,
    /// R_HOLDER, SCOPE/TYPE when holding, relative target port identifier) and its TransportID.
    /// </summary>
    private void ReadFullStatus(ref TruncatingWriter w)
    {
        uint length = 0;
        foreach (var r in _registrations) length += (uint)(24 + IscsiTransportId.Of(r.Nexuses).EncodedLength);
        w.UInt32(_generation);
        w.UInt32(length);
        Span<byte> scratch = stackalloc byte[512]; // an iSCSI TransportID is at most 248 bytes
        foreach (var r in _registrations)
        {
            bool holder = IsHolder(r);
            var id = IscsiTransportId.Of(r.Nexuses);
            int idLength = id.EncodedLength;
            w.UInt64(r.Key);
            w.Zeros(4);
            w.Byte((byte)((r.Nexuses.AllTargetPorts ? 0x02 : 0x00) | (holder ? 0x01 : 0x00)));
            w.Byte(holder ? (byte)(LuScope << 4 | (byte)_type) : (byte)0);
            w.Zeros(4);
            // With ALL_TG_PT the field is not defined (SPC-4 §6.15.5): zero says "no one port".
            w.UInt16(r.Nexuses.RelativeTargetPortId ?? 0);
            w.UInt32((uint)idLength);
            var buffer = idLength <= scratch.Length ? scratch : new byte[idLength];
            id.WriteTo(buffer);
            w.Bytes(buffer[..idLength]);
        }
    }
}
