using System.Globalization;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>The outcome of a successful login: identities, session-wide values and this connection's parameters.</summary>
public sealed class NegotiatedSession
{
    public required string InitiatorName { get; init; }
    public string? TargetName { get; init; }
    public bool IsDiscovery { get; init; }
    public string? InitiatorAlias { get; init; }
    public string? TargetAlias { get; init; }
    public ushort? TargetPortalGroupTag { get; init; }
    /// <summary>"None" or "CHAP".</summary>
    public string AuthMethod { get; init; } = NegotiationValues.None;
    public bool MutualAuthentication { get; init; }

    /// <summary>This connection's values, from this side's point of view (Receive = what we accept, Xmit = the peer's limit).</summary>
    public required ConnectionParameters Connection { get => _connection; init => _connection = value; }
    private ConnectionParameters _connection = null!;

    public int MaxConnections { get; init; } = 1;
    public int DefaultTime2Wait { get; init; } = 2;
    public int DefaultTime2Retain { get; init; } = 20;
    public int ErrorRecoveryLevel { get; init; }
    public string TaskReporting { get; init; } = "RFC3720";
    public int IscsiProtocolLevel { get; init; } = 1;

    /// <summary>Per key: offered/declared value, answer, result.</summary>
    public IReadOnlyList<NegotiatedKey> Keys { get; init; } = Array.Empty<NegotiatedKey>();

    /// <summary>
    /// A connection added to (or replacing one of) an existing session negotiates only connection keys: its values are
    /// this session's, with the connection-only ones (digests, data segment lengths) taken from <paramref name="added"/>.
    /// </summary>
    public NegotiatedSession ForAddedConnection(NegotiatedSession added)
    {
        var merged = (NegotiatedSession)MemberwiseClone();
        var c = added.Connection;
        merged._connection = Connection with
        {
            HeaderDigest = c.HeaderDigest,
            DataDigest = c.DataDigest,
            MaxRecvDataSegmentLength = c.MaxRecvDataSegmentLength,
            MaxXmitDataSegmentLength = c.MaxXmitDataSegmentLength,
            InitiatorRecvDataSegmentLength = c.InitiatorRecvDataSegmentLength,
            TargetRecvDataSegmentLength = c.TargetRecvDataSegmentLength,
        };
        return merged;
    }

    internal static NegotiatedSession Build(LoginKeyLedger ledger, bool weAreTarget, string initiatorName, string? targetName,
        bool isDiscovery, string? initiatorAlias, string? targetAlias, ushort? portalGroupTag, string authMethod, bool mutual,
        bool inheritedRdma = false)
    {
        // A numeric result may be a hex-constant (RFC 7143 §6.1: an answer of 0x40000 is as valid as 262144).
        int Int(string key) => KeyDefinition.TryParseNumber(ledger.Result(key) ?? "", out long v) && v <= int.MaxValue
            ? (int)v
            : throw new LoginFailure(LoginStatus.InitiatorError, $"The negotiated value {key}={ledger.Result(key) ?? "(none)"} is not a number this node can use.");
        long Long(string key) => KeyDefinition.TryParseNumber(ledger.Result(key) ?? "0", out long v) ? v : 0;
        bool Bool(string key) => ledger.Result(key) == NegotiationValues.Yes;
        int Declared(string? value) => value is not null && KeyDefinition.TryParseNumber(value, out long v) ? (int)v : 8192;

        // A connection joining an iSER session negotiates no RDMAExtensions (leading-only): it has the session's.
        bool rdma = !isDiscovery && (Bool(KeyNames.RdmaExtensions) || inheritedRdma);
        int ourRecv = Declared(ledger.OurDeclared(KeyNames.MaxRecvDataSegmentLength));
        int peerRecv = Declared(ledger.PeerDeclared(KeyNames.MaxRecvDataSegmentLength));
        int initiatorRecv = (int)Long(KeyNames.InitiatorRecvDataSegmentLength);
        int targetRecv = (int)Long(KeyNames.TargetRecvDataSegmentLength);
        if (rdma)
        {
            // RFC 7145 §6.2/6.3: on iSER these two keys replace MaxRecvDataSegmentLength for control PDUs.
            ourRecv = weAreTarget ? targetRecv : initiatorRecv;
            peerRecv = weAreTarget ? initiatorRecv : targetRecv;
        }

        bool initialR2T = isDiscovery || Bool(KeyNames.InitialR2T);
        bool immediate = !isDiscovery && Bool(KeyNames.ImmediateData);
        var connection = new ConnectionParameters
        {
            HeaderDigest = ledger.Result(KeyNames.HeaderDigest) == "CRC32C",
            DataDigest = ledger.Result(KeyNames.DataDigest) == "CRC32C",
            MaxRecvDataSegmentLength = ourRecv,
            MaxXmitDataSegmentLength = peerRecv,
            MaxBurstLength = Int(KeyNames.MaxBurstLength),
            FirstBurstLength = Math.Min(Int(KeyNames.FirstBurstLength), Int(KeyNames.MaxBurstLength)),
            InitialR2T = initialR2T,
            ImmediateData = immediate,
            MaxOutstandingR2T = Int(KeyNames.MaxOutstandingR2T),
            DataPduInOrder = Bool(KeyNames.DataPduInOrder),
            DataSequenceInOrder = Bool(KeyNames.DataSequenceInOrder),
            ErrorRecoveryLevel = Int(KeyNames.ErrorRecoveryLevel),
            RdmaExtensions = rdma,
            InitiatorRecvDataSegmentLength = initiatorRecv,
            TargetRecvDataSegmentLength = targetRecv,
            MaxOutstandingUnexpectedPdus = (int)Math.Min(int.MaxValue, Long(KeyNames.MaxOutstandingUnexpectedPdus)),
        };
        return new NegotiatedSession
        {
            InitiatorName = initiatorName,
            TargetName = targetName,
            IsDiscovery = isDiscovery,
            InitiatorAlias = initiatorAlias,
            TargetAlias = targetAlias,
            TargetPortalGroupTag = portalGroupTag,
            AuthMethod = authMethod,
            MutualAuthentication = mutual,
            Connection = connection,
            MaxConnections = Int(KeyNames.MaxConnections),
            DefaultTime2Wait = Int(KeyNames.DefaultTime2Wait),
            DefaultTime2Retain = Int(KeyNames.DefaultTime2Retain),
            ErrorRecoveryLevel = Int(KeyNames.ErrorRecoveryLevel),
            TaskReporting = ledger.Result(KeyNames.TaskReporting) ?? "RFC3720",
            IscsiProtocolLevel = Int(KeyNames.IscsiProtocolLevel),
            Keys = ledger.Entries.ToArray(),
        };
    }
}
