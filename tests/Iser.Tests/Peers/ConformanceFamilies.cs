namespace Iser.Tests.Peers;

/// <summary>
/// The libiscsi iscsi-test-cu families (FAMILY.SUITE) our target must pass without failures or skips.
/// Not listed because libiscsi 1.19 (Debian 12) has no such suite: SCSI.ReportLUNs (REPORT LUNS is exercised by
/// iscsi-ls -s in <see cref="LinuxToolsTests"/>), iSCSI.iSCSISendTargets (SendTargets by iscsi-ls), iSCSI.iSCSINop.
/// </summary>
public static class ConformanceFamilies
{
    public static readonly IReadOnlyList<string> All = new[]
    {
        "SCSI.TestUnitReady", "SCSI.Inquiry", "SCSI.ReadCapacity10", "SCSI.ReadCapacity16",
        "SCSI.Read10", "SCSI.Read12", "SCSI.Read16",
        "SCSI.Write10", "SCSI.Write12", "SCSI.Write16",
        "SCSI.Verify10", "SCSI.Verify12", "SCSI.Verify16",
        "SCSI.WriteVerify10", "SCSI.WriteVerify12", "SCSI.WriteVerify16",
        "SCSI.ModeSense6", "SCSI.CompareAndWrite", "SCSI.Unmap", "SCSI.WriteSame10", "SCSI.WriteSame16",
        "SCSI.PrinReadKeys", "SCSI.PrinServiceactionRange", "SCSI.PrinReportCapabilities",
        "SCSI.ProutRegister", "SCSI.ProutReserve", "SCSI.ProutClear", "SCSI.ProutPreempt", "SCSI.Reserve6",
        "iSCSI.iSCSIResiduals", "iSCSI.iSCSIcmdsn", "iSCSI.iSCSIdatasn", "iSCSI.iSCSITMF",
    };

    /// <summary>Families asked for that this libiscsi lacks; kept so the gap stays visible in the record.</summary>
    public static readonly IReadOnlyList<string> MissingFromLibiscsi119 = new[]
    {
        "SCSI.ReportLUNs", "iSCSI.iSCSINop", "iSCSI.iSCSISendTargets",
    };

    public static TheoryData<string> Data
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (string family in All)
                data.Add(family);
            return data;
        }
    }
}
