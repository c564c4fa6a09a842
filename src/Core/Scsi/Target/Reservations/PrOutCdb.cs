using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// The PERSISTENT RESERVE OUT CDB (SPC-4 §6.16.1): service action (byte 1), SCOPE and TYPE (byte 2), PARAMETER LIST
/// LENGTH (bytes 5-8). Checks what the CDB alone can tell; the TYPE is checked by <see cref="PersistentReservations.Out"/>,
/// which knows when it matters.
/// </summary>
public readonly record struct PrOutCdb(PrOutServiceAction ServiceAction, PrType Type, int ParameterListLength)
{
    public const byte OperationCode = 0x5F;
    public const int CdbLength = 10;

    /// <summary>
    /// The longest parameter list taken: a SPEC_I_PT list of a few hundred TransportIDs. Longer is refused before any
    /// data moves, so an initiator cannot make the target buffer gigabytes.
    /// </summary>
    public const int MaxParameterListLength = 64 * 1024;

    private const byte LuScope = 0x0;

    public static bool TryDecode(ReadOnlySpan<byte> cdb, out PrOutCdb decoded, out PrOutcome error)
    {
        decoded = default;
        if (cdb.Length < CdbLength) return Fail(PrOutcome.InvalidFieldInCdb(0), out error);
        int action = cdb[1] & 0x1F;
        if (action > (int)PrOutServiceAction.RegisterAndMove) return Fail(PrOutcome.InvalidFieldInCdb(1, 4), out error);
        var serviceAction = (PrOutServiceAction)action;
        // Only LU_SCOPE is defined (SPC-4 §6.16.2); the actions that ignore SCOPE do not get to fail on it.
        bool usesScope = serviceAction is PrOutServiceAction.Reserve or PrOutServiceAction.Release
            or PrOutServiceAction.Preempt or PrOutServiceAction.PreemptAndAbort;
        if (usesScope && cdb[2] >> 4 != LuScope) return Fail(PrOutcome.InvalidFieldInCdb(2, 7), out error);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(cdb[5..]);
        if (length > MaxParameterListLength) return Fail(PrOutcome.ParameterListLengthError, out error);

        decoded = new PrOutCdb(serviceAction, (PrType)(cdb[2] & 0x0F), (int)length);
        error = default;
        return true;
    }

    private static bool Fail(PrOutcome outcome, out PrOutcome error)
    {
        error = outcome;
        return false;
    }
}
