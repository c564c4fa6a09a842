using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// Decodes and checks the PERSISTENT RESERVE OUT parameter list (SPC-4 §6.16.3, §6.16.4): the basic 24 bytes with
/// SPEC_I_PT's TransportID list after them, or REGISTER AND MOVE's list with one TransportID. Errors come back as
/// the CHECK CONDITION to send, pointing at the offending parameter byte.
/// </summary>
public static class PrOutParameterParser
{
    public const int BasicLength = 24;
    private const int SpecIptHeaderLength = 28;
    private const int FlagsByte = 20;

    /// <param name="list">Exactly the PARAMETER LIST LENGTH bytes the CDB announced.</param>
    public static bool TryParse(ReadOnlySpan<byte> list, PrOutServiceAction action, out PrOutParameters parameters, out PrOutcome error) =>
        action == PrOutServiceAction.RegisterAndMove
            ? TryParseRegisterAndMove(list, out parameters, out error)
            : TryParseBasic(list, action, out parameters, out error);

    private static bool TryParseBasic(ReadOnlySpan<byte> list, PrOutServiceAction action, out PrOutParameters parameters, out PrOutcome error)
    {
        parameters = default;
        if (list.Length < BasicLength) return Fail(PrOutcome.ParameterListLengthError, out error);
        byte flags = list[FlagsByte];
        bool specIpt = (flags & 0x08) != 0;
        bool register = action is PrOutServiceAction.Register or PrOutServiceAction.RegisterAndIgnoreExistingKey;
        // SPEC_I_PT is for REGISTER alone; a nonzero one elsewhere is an error, not something to ignore (SPC-4 §6.16.3).
        if (specIpt && action != PrOutServiceAction.Register)
            return Fail(PrOutcome.InvalidFieldInParameterList(FlagsByte, 3), out error);
        if (!specIpt && list.Length != BasicLength) return Fail(PrOutcome.ParameterListLengthError, out error);

        IReadOnlyList<IscsiTransportId> transportIds = [];
        if (specIpt && !TryParseTransportIdList(list, out transportIds, out error)) return false;

        parameters = new PrOutParameters
        {
            ReservationKey = BinaryPrimitives.ReadUInt64BigEndian(list),
            ServiceActionReservationKey = BinaryPrimitives.ReadUInt64BigEndian(list[8..]),
            SpecifyInitiatorPorts = specIpt,
            AllTargetPorts = register && (flags & 0x04) != 0,
            ActivatePersistThroughPowerLoss = register && (flags & 0x01) != 0,
            TransportIds = transportIds,
        };
        error = default;
        return true;
    }

    /// <summary>Bytes 24-27: TRANSPORTID PARAMETER DATA LENGTH; then that many bytes of whole TransportIDs.</summary>
    private static bool TryParseTransportIdList(ReadOnlySpan<byte> list, out IReadOnlyList<IscsiTransportId> transportIds, out PrOutcome error)
    {
        transportIds = [];
        if (list.Length < SpecIptHeaderLength) return Fail(PrOutcome.ParameterListLengthError, out error);
        uint dataLength = BinaryPrimitives.ReadUInt32BigEndian(list[BasicLength..]);
        if (dataLength != (uint)(list.Length - SpecIptHeaderLength)) return Fail(PrOutcome.ParameterListLengthError, out error);

        var ids = new List<IscsiTransportId>();
        int at = SpecIptHeaderLength;
        while (at < list.Length)
        {
            if (!IscsiTransportId.TryDecode(list[at..], out var id, out int length, out int bad))
                return Fail(PrOutcome.InvalidFieldInParameterList(at + bad), out error);
            ids.Add(id);
            at += length;
        }
        if (ids.Count == 0) return Fail(PrOutcome.InvalidFieldInParameterList(BasicLength), out error);
        transportIds = ids;
        error = default;
        return true;
    }

    /// <summary>
    /// 0-7 key, 8-15 service action key, 17 UNREG (bit 1) and APTPL (bit 0), 18-19 relative target port identifier,
    /// 20-23 TRANSPORTID PARAMETER DATA LENGTH, then exactly one TransportID.
    /// </summary>
    private static bool TryParseRegisterAndMove(ReadOnlySpan<byte> list, out PrOutParameters parameters, out PrOutcome error)
    {
        parameters = default;
        if (list.Length < BasicLength) return Fail(PrOutcome.ParameterListLengthError, out error);
        uint dataLength = BinaryPrimitives.ReadUInt32BigEndian(list[20..]);
        if (dataLength != (uint)(list.Length - BasicLength)) return Fail(PrOutcome.ParameterListLengthError, out error);
        if (!IscsiTransportId.TryDecode(list[BasicLength..], out var destination, out int length, out int bad))
            return Fail(PrOutcome.InvalidFieldInParameterList(BasicLength + bad), out error);
        if (length != dataLength) return Fail(PrOutcome.InvalidFieldInParameterList(20), out error);

        parameters = new PrOutParameters
        {
            ReservationKey = BinaryPrimitives.ReadUInt64BigEndian(list),
            ServiceActionReservationKey = BinaryPrimitives.ReadUInt64BigEndian(list[8..]),
            Unregister = (list[17] & 0x02) != 0,
            ActivatePersistThroughPowerLoss = (list[17] & 0x01) != 0,
            RelativeTargetPortId = BinaryPrimitives.ReadUInt16BigEndian(list[18..]),
            TransportIds = [destination],
        };
        error = default;
        return true;
    }

    private static bool Fail(PrOutcome outcome, out PrOutcome error)
    {
        error = outcome;
        return false;
    }
}
