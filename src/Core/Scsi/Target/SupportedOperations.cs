namespace Iser.Core.Scsi.Target;

/// <summary>
/// What REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35) says about each command: the CDB usage data is the CDB
/// with every bit the device server evaluates set, so an initiator can see e.g. that DPO and FUA are honoured.
/// Must agree with what <see cref="BlockDeviceLogicalUnit"/> accepts.
/// </summary>
internal static class SupportedOperations
{
    public readonly record struct Operation(byte Opcode, ushort? ServiceAction, byte[] Usage)
    {
        /// <summary>REPORT or SET TARGET PORT GROUPS: offered only where the logical unit runs in a target with ALUA.</summary>
        public bool NeedsAlua => ServiceAction == SbcOpcode.TargetPortGroupsAction
                                 && Opcode is SbcOpcode.MaintenanceIn or SbcOpcode.MaintenanceOut;
    }

    /// <summary>
    /// The commands in ascending opcode order. <paramref name="dpoFua"/> decides the DPO/FUA bits; <paramref name="erase"/>
    /// whether SANITIZE offers BLOCK ERASE and CRYPTOGRAPHIC ERASE besides OVERWRITE and EXIT FAILURE MODE.
    /// </summary>
    public static IReadOnlyList<Operation> Build(bool dpoFua, bool erase)
    {
        byte rw = (byte)(dpoFua ? 0x1E : 0x06); // DPO, FUA, RARC, FUA_NV (read) — RARC/FUA_NV are accepted and ignored
        byte wr = (byte)(dpoFua ? 0x1A : 0x02); // DPO, FUA, FUA_NV (write)
        byte vf = (byte)(dpoFua ? 0x16 : 0x06); // DPO, BYTCHK
        byte caw = (byte)(dpoFua ? 0x1A : 0x02);
        byte atomic = (byte)(dpoFua ? 0x18 : 0x00); // DPO, FUA (WRITE ATOMIC has no FUA_NV)
        // SANITIZE: IMMED, AUSE and the service action in byte 1; the PARAMETER LIST LENGTH.
        static Operation Sanitize(byte action) => new(SbcOpcode.Sanitize, action, [0x48, (byte)(0xA0 | action), 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]);
        Operation[] sanitize = erase
            ? [Sanitize(SbcOpcode.SanitizeOverwrite), Sanitize(SbcOpcode.SanitizeBlockErase), Sanitize(SbcOpcode.SanitizeCryptographicErase), Sanitize(SbcOpcode.SanitizeExitFailureMode)]
            : [Sanitize(SbcOpcode.SanitizeOverwrite), Sanitize(SbcOpcode.SanitizeExitFailureMode)];
        return
        [
            new(SbcOpcode.TestUnitReady, null, [0x00, 0, 0, 0, 0, 0]),
            new(SbcOpcode.RequestSense, null, [0x03, 0x01, 0, 0, 0xFF, 0]),
            new(SbcOpcode.Read6, null, [0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0]),   // 21-bit LBA; no flags in 6-byte CDBs
            new(SbcOpcode.Write6, null, [0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.Inquiry, null, [0x12, 0x01, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.ModeSelect6, null, [0x15, 0x11, 0, 0, 0xFF, 0]),
            new(SbcOpcode.Reserve6, null, [0x16, 0x11, 0, 0, 0, 0]),  // 3RDPTY and EXTENT are refused when set
            new(SbcOpcode.Release6, null, [0x17, 0x11, 0, 0, 0, 0]),
            new(SbcOpcode.ModeSense6, null, [0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.StartStopUnit, null, [0x1B, 0x01, 0, 0, 0x07, 0]),
            new(SbcOpcode.PreventAllowMediumRemoval, null, [0x1E, 0, 0, 0, 0x03, 0]),
            new(SbcOpcode.ReadCapacity10, null, [0x25, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, 0]),
            new(SbcOpcode.Read10, null, [0x28, rw, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0]),
            new(SbcOpcode.Write10, null, [0x2A, wr, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0]),
            new(SbcOpcode.WriteAndVerify10, null, [0x2E, vf, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0]),
            new(SbcOpcode.Verify10, null, [0x2F, vf, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PreFetch10, null, [0x34, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0]),
            new(SbcOpcode.SynchronizeCache10, null, [0x35, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0]),
            new(SbcOpcode.ReadDefectData10, null, [0x37, 0, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
            new(SbcOpcode.WriteSame10, null, [0x41, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0]),
            new(SbcOpcode.Unmap, null, [0x42, 0, 0, 0, 0, 0, 0x1F, 0xFF, 0xFF, 0]),
            .. sanitize,
            new(SbcOpcode.ModeSelect10, null, [0x55, 0x11, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
            new(SbcOpcode.Reserve10, null, [0x56, 0x13, 0, 0, 0, 0, 0, 0, 0, 0]), // 3RDPTY, LONGID and EXTENT are refused when set
            new(SbcOpcode.Release10, null, [0x57, 0x13, 0, 0, 0, 0, 0, 0, 0, 0]),
            new(SbcOpcode.ModeSense10, null, [0x5A, 0x18, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveIn, 0, [0x5E, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveIn, 1, [0x5E, 1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveIn, 2, [0x5E, 2, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveIn, 3, [0x5E, 3, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
            // PERSISTENT RESERVE OUT: SCOPE and TYPE count for the service actions that reserve, release or preempt.
            new(SbcOpcode.PersistentReserveOut, 0, [0x5F, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveOut, 1, [0x5F, 1, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveOut, 2, [0x5F, 2, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveOut, 3, [0x5F, 3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveOut, 4, [0x5F, 4, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveOut, 5, [0x5F, 5, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveOut, 6, [0x5F, 6, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            new(SbcOpcode.PersistentReserveOut, 7, [0x5F, 7, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            // EXTENDED COPY (LID1) and RECEIVE COPY RESULTS: COPY STATUS, OPERATING PARAMETERS.
            new(SbcOpcode.ExtendedCopy, 0, [0x83, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            new(SbcOpcode.ReceiveCopyResults, 0, [0x84, 0x00, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            new(SbcOpcode.ReceiveCopyResults, 3, [0x84, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            new(SbcOpcode.Read16, null, [0x88, rw, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.CompareAndWrite, null, [0x89, caw, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0x1F, 0]),
            new(SbcOpcode.Write16, null, [0x8A, wr, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.OrWrite16, null, [0x8B, wr, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.WriteAndVerify16, null, [0x8E, vf, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.Verify16, null, [0x8F, vf, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.PreFetch16, null, [0x90, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.SynchronizeCache16, null, [0x91, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.WriteSame16, null, [0x93, 0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.WriteAtomic16, null, [0x9C, atomic, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.ServiceActionIn16, SbcOpcode.ReadCapacity16Action, [0x9E, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0]),
            new(SbcOpcode.ServiceActionIn16, SbcOpcode.GetLbaStatusAction, [0x9E, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            new(SbcOpcode.ReportLuns, null, [0xA0, 0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            // REPORT TARGET PORT GROUPS: PARAMETER DATA FORMAT (all of bits 7-5) and the allocation length.
            new(SbcOpcode.MaintenanceIn, SbcOpcode.TargetPortGroupsAction, [0xA3, 0xEA, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            new(SbcOpcode.MaintenanceIn, SbcOpcode.ReportSupportedOperationCodesAction, [0xA3, 0x0C, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            new(SbcOpcode.MaintenanceOut, SbcOpcode.TargetPortGroupsAction, [0xA4, 0x0A, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
            new(SbcOpcode.Read12, null, [0xA8, rw, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.Write12, null, [0xAA, wr, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.WriteAndVerify12, null, [0xAE, vf, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.Verify12, null, [0xAF, vf, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0]),
            new(SbcOpcode.ReadDefectData12, null, [0xB7, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
        ];
    }
}
