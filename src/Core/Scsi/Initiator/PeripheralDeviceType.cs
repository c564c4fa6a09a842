namespace Iser.Core.Scsi.Initiator;

/// <summary>PERIPHERAL DEVICE TYPE of INQUIRY data (SPC-4).</summary>
public enum PeripheralDeviceType : byte
{
    DirectAccessBlock = 0x00,
    SequentialAccess = 0x01,
    Printer = 0x02,
    Processor = 0x03,
    WriteOnce = 0x04,
    CdDvd = 0x05,
    OpticalMemory = 0x07,
    MediumChanger = 0x08,
    StorageArrayController = 0x0C,
    EnclosureServices = 0x0D,
    SimplifiedDirectAccess = 0x0E,
    OpticalCardReaderWriter = 0x0F,
    ObjectBasedStorage = 0x11,
    AutomationDriveInterface = 0x12,
    HostManagedZonedBlock = 0x14,
    WellKnownLogicalUnit = 0x1E,
    UnknownOrNoDevice = 0x1F,
}
