using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Cli.Client;

/// <summary>
/// The SCSI questions the CLI asks that <see cref="IscsiLun"/> has no method for (REPORT LUNS, VPD pages), each
/// retried past UNIT ATTENTION the way IscsiLun does for its own commands.
/// </summary>
internal static class ScsiQueries
{
    private const int UnitAttentionRetries = 3;

    public static async Task<IReadOnlyList<int>> ReportLunsAsync(IscsiSession session, CancellationToken ct)
    {
        uint allocation = 4096;
        while (true)
        {
            var data = new byte[allocation];
            var cdb = new byte[12];
            CdbBuilder.ReportLuns(cdb, allocation);
            var response = await ExecuteAsync(session, 0, cdb, data, ct).ConfigureAwait(false);
            if (!response.IsGood) throw response.ToException("REPORT LUNS");
            var report = ReportLunsData.Parse(data.AsSpan(0, response.TransferredLength));
            if (report.IsComplete || report.RequiredAllocationLength <= allocation) return report.LunNumbers().ToList();
            allocation = (uint)Math.Min(report.RequiredAllocationLength, 1 << 20);
        }
    }

    /// <summary>Standard INQUIRY data.</summary>
    public static async Task<InquiryData> InquiryAsync(IscsiSession session, int lun, CancellationToken ct)
    {
        var data = new byte[96];
        var cdb = new byte[6];
        CdbBuilder.Inquiry(cdb, (ushort)data.Length);
        var response = await ExecuteAsync(session, lun, cdb, data, ct).ConfigureAwait(false);
        if (!response.IsGood) throw response.ToException("INQUIRY");
        return InquiryData.Parse(data.AsSpan(0, response.TransferredLength));
    }

    /// <summary>A VPD page, whole (asked again with a larger allocation when the first answer was cut short).</summary>
    public static async Task<byte[]> InquiryVpdAsync(IscsiSession session, int lun, byte page, CancellationToken ct)
    {
        ushort allocation = 255;
        while (true)
        {
            var data = new byte[allocation];
            var cdb = new byte[6];
            CdbBuilder.InquiryVpd(cdb, page, allocation);
            var response = await ExecuteAsync(session, lun, cdb, data, ct).ConfigureAwait(false);
            if (!response.IsGood) throw response.ToException($"INQUIRY for VPD page 0x{page:x2}");
            var bytes = data.AsSpan(0, response.TransferredLength);
            if (bytes.Length >= VpdPages.HeaderLength && VpdPages.RequiredLength(bytes) > bytes.Length && allocation < ushort.MaxValue)
            {
                allocation = (ushort)Math.Min(VpdPages.RequiredLength(bytes), ushort.MaxValue);
                continue;
            }
            return bytes.ToArray();
        }
    }

    private static async Task<ScsiResponse> ExecuteAsync(IscsiSession session, int lun, byte[] cdb, byte[] data, CancellationToken ct)
    {
        var response = await session.ExecuteAsync(lun, cdb, data, default, ct).ConfigureAwait(false);
        for (int attempt = 0; attempt < UnitAttentionRetries && IsUnitAttention(response); attempt++)
            response = await session.ExecuteAsync(lun, cdb, data, default, ct).ConfigureAwait(false);
        return response;
    }

    private static bool IsUnitAttention(in ScsiResponse response) =>
        response.Status == ScsiStatus.CheckCondition && response.Sense?.SenseKey == SenseKey.UnitAttention;
}
