using Iser.Tests.Peers;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The iscsi-test-cu families run against our target over iSER: the TCP conformance list
/// (<see cref="ConformanceFamilies.All"/>) less the families that cannot apply to iSER, each with its reason.
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

    public static IReadOnlyList<string> All => ConformanceFamilies.All.Where(f => !NotApplicable.ContainsKey(f)).ToArray();
}
