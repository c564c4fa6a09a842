namespace Iser.Core.Scsi.Initiator;

/// <summary>Operation codes (byte 0 of the CDB) of the commands <see cref="CdbBuilder"/> writes (SPC-4, SBC-3).</summary>
public enum CdbOperationCode : byte
{
    TestUnitReady = 0x00,
    RequestSense = 0x03,
    Inquiry = 0x12,
    ModeSense6 = 0x1A,
    StartStopUnit = 0x1B,
    ReadCapacity10 = 0x25,
    Read10 = 0x28,
    Write10 = 0x2A,
    SynchronizeCache10 = 0x35,
    Unmap = 0x42,
    ModeSense10 = 0x5A,
    Read16 = 0x88,
    CompareAndWrite = 0x89,
    Write16 = 0x8A,
    Verify16 = 0x8F,
    SynchronizeCache16 = 0x91,
    WriteSame16 = 0x93,
    /// <summary>SERVICE ACTION IN(16); READ CAPACITY(16) is service action 0x10.</summary>
    ServiceActionIn16 = 0x9E,
    ReportLuns = 0xA0,
}
