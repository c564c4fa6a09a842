using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>Which row of the SPC-4 / SBC-3 allowed-commands tables a CDB falls in.</summary>
public class ScsiCommandClassifierTests
{
    private static ScsiCommandClass Classify(params byte[] cdb)
    {
        var padded = new byte[Math.Max(cdb.Length, 16)];
        cdb.CopyTo(padded, 0);
        return ScsiCommandClassifier.Classify(padded);
    }

    [Theory]
    [InlineData(0x12, ScsiCommandClass.Unrestricted)]        // INQUIRY
    [InlineData(0x03, ScsiCommandClass.Unrestricted)]        // REQUEST SENSE
    [InlineData(0xA0, ScsiCommandClass.Unrestricted)]        // REPORT LUNS
    [InlineData(0x25, ScsiCommandClass.Unrestricted)]        // READ CAPACITY(10)
    [InlineData(0x4D, ScsiCommandClass.Unrestricted)]        // LOG SENSE
    [InlineData(0x00, ScsiCommandClass.UnrestrictedByPersistentReservations)] // TEST UNIT READY
    [InlineData(0x28, ScsiCommandClass.Read)]                // READ(10)
    [InlineData(0x88, ScsiCommandClass.Read)]                // READ(16)
    [InlineData(0x2F, ScsiCommandClass.Read)]                // VERIFY(10)
    [InlineData(0x1A, ScsiCommandClass.Read)]                // MODE SENSE(6)
    [InlineData(0x5A, ScsiCommandClass.Read)]                // MODE SENSE(10)
    [InlineData(0x90, ScsiCommandClass.Read)]                // PRE-FETCH(16)
    [InlineData(0x08, ScsiCommandClass.Read)]                // READ(6)
    [InlineData(0x34, ScsiCommandClass.Read)]                // PRE-FETCH(10)
    [InlineData(0x37, ScsiCommandClass.Read)]                // READ DEFECT DATA(10)
    [InlineData(0xB7, ScsiCommandClass.Read)]                // READ DEFECT DATA(12)
    [InlineData(0x0A, ScsiCommandClass.Write)]               // WRITE(6)
    [InlineData(0x8B, ScsiCommandClass.Write)]               // ORWRITE(16)
    [InlineData(0x9C, ScsiCommandClass.Write)]               // WRITE ATOMIC(16)
    [InlineData(0x2A, ScsiCommandClass.Write)]               // WRITE(10)
    [InlineData(0x8A, ScsiCommandClass.Write)]               // WRITE(16)
    [InlineData(0x89, ScsiCommandClass.Write)]               // COMPARE AND WRITE
    [InlineData(0x93, ScsiCommandClass.Write)]               // WRITE SAME(16)
    [InlineData(0x42, ScsiCommandClass.Write)]               // UNMAP
    [InlineData(0x35, ScsiCommandClass.Write)]               // SYNCHRONIZE CACHE(10)
    [InlineData(0x15, ScsiCommandClass.Write)]               // MODE SELECT(6)
    [InlineData(0x04, ScsiCommandClass.Write)]               // FORMAT UNIT
    [InlineData(0x3E, ScsiCommandClass.Write)]               // READ LONG(10): holder only, per SBC-3
    [InlineData(0xC0, ScsiCommandClass.Write)]               // vendor specific: assume the worst
    [InlineData(0x5E, ScsiCommandClass.PersistentReserveIn)]
    [InlineData(0x5F, ScsiCommandClass.PersistentReserveOut)]
    [InlineData(0x16, ScsiCommandClass.LegacyReservation)]   // RESERVE(6)
    [InlineData(0x57, ScsiCommandClass.LegacyReservation)]   // RELEASE(10)
    public void Operation_codes(byte opcode, ScsiCommandClass expected) => Assert.Equal(expected, Classify(opcode));

    [Theory]
    [InlineData(0x9E, 0x10, ScsiCommandClass.Unrestricted)]  // READ CAPACITY(16)
    [InlineData(0x9E, 0x12, ScsiCommandClass.Read)]          // GET LBA STATUS
    [InlineData(0x9E, 0x11, ScsiCommandClass.Write)]         // READ LONG(16)
    [InlineData(0xA3, 0x0A, ScsiCommandClass.Unrestricted)]  // REPORT TARGET PORT GROUPS
    [InlineData(0xA3, 0x0C, ScsiCommandClass.Read)]          // REPORT SUPPORTED OPERATION CODES
    [InlineData(0xA3, 0x0D, ScsiCommandClass.Read)]          // REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
    [InlineData(0xA3, 0x1F, ScsiCommandClass.Write)]
    [InlineData(0xAB, 0x01, ScsiCommandClass.Unrestricted)]  // READ MEDIA SERIAL NUMBER
    public void Service_actions(byte opcode, byte serviceAction, ScsiCommandClass expected) =>
        Assert.Equal(expected, Classify(opcode, serviceAction));

    [Theory]
    [InlineData(0x00, ScsiCommandClass.Unrestricted)] // PREVENT 0: allow removal
    [InlineData(0x01, ScsiCommandClass.Write)]
    [InlineData(0x02, ScsiCommandClass.Write)]
    public void Prevent_allow_medium_removal_depends_on_prevent(byte prevent, ScsiCommandClass expected) =>
        Assert.Equal(expected, Classify(0x1E, 0, 0, 0, prevent, 0));

    [Theory]
    [InlineData(0x01, ScsiCommandClass.Unrestricted)] // START 1, POWER CONDITION 0
    [InlineData(0x00, ScsiCommandClass.Write)]        // stop
    [InlineData(0x11, ScsiCommandClass.Write)]        // START 1 with a power condition
    public void Start_stop_unit_depends_on_start_and_power_condition(byte byte4, ScsiCommandClass expected) =>
        Assert.Equal(expected, Classify(0x1B, 0, 0, 0, byte4, 0));

    [Theory]
    [InlineData(0x0009, ScsiCommandClass.Read)]  // READ(32)
    [InlineData(0x000B, ScsiCommandClass.Write)] // WRITE(32)
    public void Variable_length_cdbs_use_their_service_action(ushort serviceAction, ScsiCommandClass expected) =>
        Assert.Equal(expected, Classify(0x7F, 0, 0, 0, 0, 0, 0, 0x18, (byte)(serviceAction >> 8), (byte)serviceAction));

    [Fact]
    public void Short_or_empty_cdbs_do_not_throw()
    {
        Assert.Equal(ScsiCommandClass.Write, ScsiCommandClassifier.Classify([]));
        Assert.Equal(ScsiCommandClass.Write, ScsiCommandClassifier.Classify([0x1E]));
        Assert.Equal(ScsiCommandClass.Write, ScsiCommandClassifier.Classify([0x9E]));
        Assert.Equal(ScsiCommandClass.Write, ScsiCommandClassifier.Classify([0x7F, 0]));
    }
}
