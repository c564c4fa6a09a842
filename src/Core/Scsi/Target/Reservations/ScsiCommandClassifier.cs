using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// Sorts a CDB into the <see cref="ScsiCommandClass"/> its row of the SPC-4 and SBC-3 allowed-commands tables give it (the
/// "allowed in the presence of various reservations" tables), looking at the service action or the bits that make
/// a row differ where needed. Commands not listed are <see cref="ScsiCommandClass.Write"/>: when in doubt, the
/// reservation holder keeps the medium to itself.
/// </summary>
public static class ScsiCommandClassifier
{
    public static ScsiCommandClass Classify(ReadOnlySpan<byte> cdb)
    {
        if (cdb.IsEmpty) return ScsiCommandClass.Write;
        switch (cdb[0])
        {
            case 0x00: // TEST UNIT READY
                return ScsiCommandClass.UnrestrictedByPersistentReservations;

            case 0x03: // REQUEST SENSE
            case 0x12: // INQUIRY
            case 0x25: // READ CAPACITY(10)
            case 0x4D: // LOG SENSE
            case 0x86: // ACCESS CONTROL IN
            case 0x87: // ACCESS CONTROL OUT
            case 0xA0: // REPORT LUNS
                return ScsiCommandClass.Unrestricted;

            case 0x08: // READ(6)
            case 0x28: // READ(10)
            case 0xA8: // READ(12)
            case 0x88: // READ(16)
            case 0x2F: // VERIFY(10)
            case 0xAF: // VERIFY(12)
            case 0x8F: // VERIFY(16)
            case 0x34: // PRE-FETCH(10)
            case 0x90: // PRE-FETCH(16)
            case 0x52: // XDREAD(10)
            case 0x1A: // MODE SENSE(6)
            case 0x5A: // MODE SENSE(10)
            case 0x1C: // RECEIVE DIAGNOSTIC RESULTS
            case 0x37: // READ DEFECT DATA(10)
            case 0xB7: // READ DEFECT DATA(12)
            case 0x3C: // READ BUFFER
            case 0x8C: // READ ATTRIBUTE
            case 0x84: // RECEIVE COPY RESULTS / RECEIVE COPY DATA / STATUS
            case 0xA2: // SECURITY PROTOCOL IN
                return ScsiCommandClass.Read;

            case 0x5E:
                return ScsiCommandClass.PersistentReserveIn;
            case 0x5F:
                return ScsiCommandClass.PersistentReserveOut;

            case 0x16: // RESERVE(6)
            case 0x17: // RELEASE(6)
            case 0x56: // RESERVE(10)
            case 0x57: // RELEASE(10)
                return ScsiCommandClass.LegacyReservation;

            case 0x1E: // PREVENT ALLOW MEDIUM REMOVAL: only allowing removal is harmless to the holder
                return cdb.Length > 4 && (cdb[4] & 0x03) == 0 ? ScsiCommandClass.Unrestricted : ScsiCommandClass.Write;

            case 0x1B: // START STOP UNIT: starting (START 1, POWER CONDITION 0) is harmless; stopping is not
                return cdb.Length > 4 && (cdb[4] & 0x01) != 0 && (cdb[4] & 0xF0) == 0
                    ? ScsiCommandClass.Unrestricted : ScsiCommandClass.Write;

            case 0x9E: // SERVICE ACTION IN(16)
                return ServiceActionIn16(cdb);
            case 0xA3: // MAINTENANCE IN
                return MaintenanceIn(cdb);
            case 0xAB: // SERVICE ACTION IN(12): READ MEDIA SERIAL NUMBER
                return cdb.Length > 1 && (cdb[1] & 0x1F) == 0x01 ? ScsiCommandClass.Unrestricted : ScsiCommandClass.Write;
            case 0x7F: // VARIABLE LENGTH CDB
                return VariableLength(cdb);

            case 0x48: // SANITIZE: alters every block, so a medium write like any other (SBC-4 allowed-commands table)
            default:
                return ScsiCommandClass.Write;
        }
    }

    private static ScsiCommandClass ServiceActionIn16(ReadOnlySpan<byte> cdb)
    {
        if (cdb.Length < 2) return ScsiCommandClass.Write;
        return (cdb[1] & 0x1F) switch
        {
            0x10 => ScsiCommandClass.Unrestricted, // READ CAPACITY(16)
            0x13 => ScsiCommandClass.Unrestricted, // REPORT REFERRALS
            0x12 => ScsiCommandClass.Read,         // GET LBA STATUS
            _ => ScsiCommandClass.Write,           // READ LONG(16) among them: SBC-3 lets only the holder read long
        };
    }

    private static ScsiCommandClass MaintenanceIn(ReadOnlySpan<byte> cdb)
    {
        if (cdb.Length < 2) return ScsiCommandClass.Write;
        return (cdb[1] & 0x1F) switch
        {
            0x05 => ScsiCommandClass.Unrestricted, // REPORT IDENTIFYING INFORMATION
            0x0A => ScsiCommandClass.Unrestricted, // REPORT TARGET PORT GROUPS
            0x0B => ScsiCommandClass.Unrestricted, // REPORT ALIASES
            0x0E => ScsiCommandClass.Unrestricted, // REPORT PRIORITY
            0x0F => ScsiCommandClass.Unrestricted, // REPORT TIMESTAMP
            0x0C => ScsiCommandClass.Read,         // REPORT SUPPORTED OPERATION CODES
            0x0D => ScsiCommandClass.Read,         // REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
            0x10 => ScsiCommandClass.Read,         // MANAGEMENT PROTOCOL IN
            _ => ScsiCommandClass.Write,
        };
    }

    private static ScsiCommandClass VariableLength(ReadOnlySpan<byte> cdb)
    {
        if (cdb.Length < 10) return ScsiCommandClass.Write;
        return BinaryPrimitives.ReadUInt16BigEndian(cdb[8..]) switch
        {
            0x0003 => ScsiCommandClass.Read, // XDREAD(32)
            0x0009 => ScsiCommandClass.Read, // READ(32)
            0x000A => ScsiCommandClass.Read, // VERIFY(32)
            _ => ScsiCommandClass.Write,
        };
    }
}
