using Iser.Tests.Peers;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The iscsi-test-cu families run against our target over iSER: the TCP conformance list
/// (<see cref="ConformanceFamilies.All"/>) less the families that cannot apply to iSER, plus the 1.20 families
/// Debian 12's 1.19 lacks, and the single tests that libiscsi's own iSER transport cannot pass against any target.
/// </summary>
public static class IserConformanceFamilies
{
    /// <summary>Families of the TCP list that do not apply to iSER, and why.</summary>
    public static readonly IReadOnlyDictionary<string, string> NotApplicable = new Dictionary<string, string>
    {
        // test_iscsi_datasn_invalid.c (1.19 and 1.20.3) rewrites the DataSN of outgoing Data-Out PDUs and asserts that
        // the WRITE then fails. Over iSER the initiator sends no Data-Out at all: the target fetches the data with RDMA
        // Reads (RFC 7145), so the hook never fires and the WRITE rightly succeeds.
        ["iSCSI.iSCSIdatasn"] = "it corrupts Data-Out PDUs, which an iSER initiator never sends (the target RDMA-reads the data)",
    };

    /// <summary>Families libiscsi 1.20 has and 1.19 (the host's TCP conformance run) lacks.</summary>
    public static readonly IReadOnlyList<string> Added120 = ["SCSI.ReportLUNs", "iSCSI.iSCSINop", "iSCSI.iSCSISendTargets"];

    public static IReadOnlyList<string> All =>
        ConformanceFamilies.All.Where(f => !NotApplicable.ContainsKey(f)).Concat(Added120).ToArray();

    /// <summary>A test libiscsi 1.20's iSER transport fails whatever the target does, and why.</summary>
    /// <param name="Reason">What in libiscsi makes it fail (file and behaviour).</param>
    /// <param name="FailsOverTcpToo">The test fails over TCP as well (broken in this libiscsi), rather than passing there.</param>
    public sealed record LibiscsiFault(string Reason, bool FailsOverTcpToo = false);

    private const string DatainSizeIsExpectedLength =
        "libiscsi's iSER read (iser.c, iser_prepare_read_cmd/iser_rcv_completion) sets the task's datain.size to the whole " +
        "Expected Data Transfer Length and ignores the SCSI Response's residual count, so a test that compares datain.size " +
        "with the length the target returned cannot pass over iSER";

    private const string NoZeroLengthTransfer =
        "libiscsi's iSER transport refuses, before sending, a READ or WRITE whose Expected Data Transfer Length is 0 " +
        "(iser.c: \"Read command with no expected transfer length\"), and every residual test starts with one";

    private const string NoCommandTimeout =
        "the test sends a command with a CmdSN outside the window, which the target must ignore, and expects it to end " +
        "with libiscsi's TIMEOUT status after 3 s; libiscsi's iSER transport never runs the per-command timeout scan " +
        "(only socket.c's TCP service calls iscsi_timeout_scan), so sync.c's loop gives up with \"Connect timedout\" and " +
        "no task, which the test counts as a reply";

    /// <summary>
    /// Single tests (FAMILY.SUITE.TEST) that fail over iSER because of libiscsi itself. The conformance test runs each
    /// of them separately and requires that it still fails over iSER (a stale entry is reported) and that it passes
    /// over TCP against the same target with the same iscsi-test-cu, unless marked as failing there too.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, LibiscsiFault> KnownLibiscsiIserFaults = new Dictionary<string, LibiscsiFault>
    {
        ["SCSI.Inquiry.AllocLength"] = new(DatainSizeIsExpectedLength), // these three and the residual tests fail against tgtd's iSER target too
        ["SCSI.Inquiry.BlockLimits"] = new(DatainSizeIsExpectedLength),
        ["SCSI.ModeSense6.Residuals"] = new(DatainSizeIsExpectedLength),
        ["iSCSI.iSCSIResiduals.Read10Invalid"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.Read10Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.Read12Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.Read16Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.Write10Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.Write12Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.Write16Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.WriteVerify10Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.WriteVerify12Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIResiduals.WriteVerify16Residuals"] = new(NoZeroLengthTransfer),
        ["iSCSI.iSCSIcmdsn.iSCSICmdSnTooHigh"] = new(NoCommandTimeout +
            " (tgtd, which queues a too-high CmdSN instead of ignoring it, passed it once in the lab; why is not understood)"),
        ["iSCSI.iSCSIcmdsn.iSCSICmdSnTooLow"] = new(NoCommandTimeout + " (fails against tgtd's iSER target too)"),
        ["iSCSI.iSCSITMF.AbortTaskSimpleAsync"] = new(
            "test_async_abort_simple.c:132 asserts that the queued WRITE is still in libiscsi's out queue; the iSER " +
            "transport posts a PDU the moment it is queued, so the queue is empty (fails against tgtd's iSER target too)"),
        ["iSCSI.iSCSITMF.LUNResetSimpleAsync"] = new(
            "test_async_lu_reset_simple.c:132 makes the same out-queue assertion as AbortTaskSimpleAsync (fails against " +
            "tgtd's iSER target too)"),
        ["iSCSI.iSCSISendTargets.Invalid"] = new(
            "iscsi-test-cu crashes (SIGSEGV) over iSER, against tgtd's iSER target too: the test builds its Text Request " +
            "with iscsi_allocate_pdu and queues it itself, and 1.20's iSER transport faults on such a PDU"),
        ["SCSI.CompareAndWrite.InvalidDataOutSize"] = new(
            "1.20's test never changes the CDB (its queue_pdu hook skips SCSI Command PDUs: `!= ISCSI_PDU_SCSI_REQUEST`), so it " +
            "sends a valid COMPARE AND WRITE, gets MISCOMPARE, and wanted ILLEGAL REQUEST; the host's TCP run with 1.19 " +
            "(whose test does change it) passes", FailsOverTcpToo: true),
    };
}
