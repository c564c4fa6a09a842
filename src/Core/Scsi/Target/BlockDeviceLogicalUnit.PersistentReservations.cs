using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target;

public sealed partial class BlockDeviceLogicalUnit
{
    /// <summary>
    /// PERSISTENT RESERVE IN (SPC-4 §6.16). PERSISTENT RESERVE OUT is not supported, so nothing is ever registered:
    /// every report is the empty one with generation 0. Answering it lets initiators (and libiscsi's test suite, which
    /// probes it around every test) see "no reservations" instead of an unsupported command.
    /// </summary>
    private ScsiCommandResult PersistentReserveIn(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        int serviceAction = cdb[1] & 0x1F;
        int allocation = BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        int length;
        var data = task.GetDataInBuffer(8).Span;
        data[..8].Clear();
        switch (serviceAction)
        {
            case 0: // READ KEYS: PRGENERATION 0, ADDITIONAL LENGTH 0
            case 1: // READ RESERVATION: no reservation
            case 3: // READ FULL STATUS: no registrants
                length = 8;
                break;
            case 2: // REPORT CAPABILITIES: LENGTH 8; no capability bits, TMV=0 (type mask not valid)
                data[1] = 8;
                length = 8;
                break;
            default:
                return InvalidField(1, 4);
        }
        return ScsiCommandResult.Good(dataInLength: Math.Min(length, allocation));
    }
}
