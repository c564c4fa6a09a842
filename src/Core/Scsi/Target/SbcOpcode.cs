namespace Iser.Core.Scsi.Target;

/// <summary>Operation codes the block device understands (SPC-4 / SBC-4).</summary>
internal static class SbcOpcode
{
    public const byte TestUnitReady = 0x00;
    public const byte RequestSense = 0x03;
    public const byte Read6 = 0x08;
    public const byte Write6 = 0x0A;
    public const byte Inquiry = 0x12;
    public const byte ModeSelect6 = 0x15;
    public const byte ModeSense6 = 0x1A;
    public const byte Reserve6 = 0x16;
    public const byte Release6 = 0x17;
    public const byte StartStopUnit = 0x1B;
    public const byte PreventAllowMediumRemoval = 0x1E;
    public const byte ReadCapacity10 = 0x25;
    public const byte Read10 = 0x28;
    public const byte Write10 = 0x2A;
    public const byte WriteAndVerify10 = 0x2E;
    public const byte Verify10 = 0x2F;
    public const byte PreFetch10 = 0x34;
    public const byte SynchronizeCache10 = 0x35;
    public const byte ReadDefectData10 = 0x37;
    public const byte WriteSame10 = 0x41;
    public const byte Unmap = 0x42;
    public const byte ModeSelect10 = 0x55;
    public const byte Reserve10 = 0x56;
    public const byte Release10 = 0x57;
    public const byte ModeSense10 = 0x5A;
    public const byte Sanitize = 0x48;
    public const byte Read16 = 0x88;
    public const byte CompareAndWrite = 0x89;
    public const byte Write16 = 0x8A;
    public const byte OrWrite16 = 0x8B;
    public const byte WriteAndVerify16 = 0x8E;
    public const byte Verify16 = 0x8F;
    public const byte PreFetch16 = 0x90;
    public const byte SynchronizeCache16 = 0x91;
    public const byte WriteSame16 = 0x93;
    public const byte WriteAtomic16 = 0x9C;
    public const byte ServiceActionIn16 = 0x9E;
    public const byte ExtendedCopy = 0x83;
    public const byte ReceiveCopyResults = 0x84;
    public const byte ReportLuns = 0xA0;
    public const byte MaintenanceIn = 0xA3;
    public const byte MaintenanceOut = 0xA4;
    public const byte PersistentReserveIn = 0x5E;
    public const byte PersistentReserveOut = 0x5F;
    public const byte Read12 = 0xA8;
    public const byte Write12 = 0xAA;
    public const byte WriteAndVerify12 = 0xAE;
    public const byte Verify12 = 0xAF;
    public const byte ReadDefectData12 = 0xB7;

    /// <summary>SANITIZE service actions (SBC-4 §5.29): OVERWRITE, BLOCK ERASE, CRYPTOGRAPHIC ERASE, EXIT FAILURE MODE.</summary>
    public const byte SanitizeOverwrite = 0x01;
    public const byte SanitizeBlockErase = 0x02;
    public const byte SanitizeCryptographicErase = 0x03;
    public const byte SanitizeExitFailureMode = 0x1F;
    /// <summary>SERVICE ACTION IN(16) service action READ CAPACITY(16).</summary>
    public const ushort ReadCapacity16Action = 0x10;
    /// <summary>SERVICE ACTION IN(16) service action GET LBA STATUS.</summary>
    public const ushort GetLbaStatusAction = 0x12;
    /// <summary>MAINTENANCE IN service action REPORT SUPPORTED OPERATION CODES.</summary>
    public const ushort ReportSupportedOperationCodesAction = 0x0C;
    /// <summary>REPORT TARGET PORT GROUPS (MAINTENANCE IN) and SET TARGET PORT GROUPS (MAINTENANCE OUT).</summary>
    public const ushort TargetPortGroupsAction = 0x0A;

    /// <summary>CDB length implied by the operation code's group (SPC-4 §4.2.5.1); 0 for groups we do not take.</summary>
    public static int CdbLength(byte opcode) => (opcode >> 5) switch
    {
        0 => 6,
        1 or 2 => 10,
        4 => 16,
        5 => 12,
        _ => 0,
    };
}
