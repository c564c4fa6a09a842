using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// Target- and device-level SCSI questions (REPORT LUNS, INQUIRY, VPD pages) for callers that have no
/// <see cref="IscsiLun"/> open, each retried past UNIT ATTENTION the way IscsiLun retries its own commands.
/// </summary>
public sealed partial class IscsiSession
{
    private const int QueryUnitAttentionRetries = 3;

    /// <summary>REPORT LUNS: the LUN numbers the target has (peripheral and flat addressing).</summary>
    public async Task<IReadOnlyList<int>> ReportLunsAsync(CancellationToken ct = default)
    {
        uint allocation = 4096;
        while (true)
        {
            var data = new byte[allocation];
            var cdb = new byte[12];
            CdbBuilder.ReportLuns(cdb, allocation);
            var response = await ExecuteRetryingAsync(0, cdb, data, ct).ConfigureAwait(false);
            if (!response.IsGood) throw response.ToException("REPORT LUNS");
            var report = ReportLunsData.Parse(data.AsSpan(0, response.TransferredLength));
            if (report.IsComplete || report.RequiredAllocationLength <= allocation) return report.LunNumbers().ToList();
            allocation = (uint)Math.Min(report.RequiredAllocationLength, 1 << 20);
        }
    }

    /// <summary>Standard INQUIRY data of <paramref name="lun"/> (any device type: no READ CAPACITY needed).</summary>
    public async Task<InquiryData> InquiryAsync(int lun, CancellationToken ct = default)
    {
        var data = new byte[96];
        var cdb = new byte[6];
        CdbBuilder.Inquiry(cdb, (ushort)data.Length);
        var response = await ExecuteRetryingAsync(lun, cdb, data, ct).ConfigureAwait(false);
        if (!response.IsGood) throw response.ToException("INQUIRY");
        return InquiryData.Parse(data.AsSpan(0, response.TransferredLength));
    }

    /// <summary>A VPD page, whole (asked again with a larger allocation when the first answer was cut short).</summary>
    public async Task<byte[]> InquiryVpdAsync(int lun, byte page, CancellationToken ct = default)
    {
        ushort allocation = 255;
        while (true)
        {
            var data = new byte[allocation];
            var cdb = new byte[6];
            CdbBuilder.InquiryVpd(cdb, page, allocation);
            var response = await ExecuteRetryingAsync(lun, cdb, data, ct).ConfigureAwait(false);
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

    private async Task<ScsiResponse> ExecuteRetryingAsync(int lun, byte[] cdb, byte[] data, CancellationToken ct)
    {
        var response = await ExecuteAsync(lun, cdb, data, default, ct).ConfigureAwait(false);
        for (int attempt = 0; attempt < QueryUnitAttentionRetries && IsQueryUnitAttention(response); attempt++)
            response = await ExecuteAsync(lun, cdb, data, default, ct).ConfigureAwait(false);
        return response;
    }

    private static bool IsQueryUnitAttention(in ScsiResponse response) =>
        response.Status == ScsiStatus.CheckCondition && response.Sense?.SenseKey == SenseKey.UnitAttention;
}
