using System.Collections.Frozen;

namespace Iser.Core.Iscsi.Text;

/// <summary>
/// Every key of RFC 7143 §13 and §12.1 (CHAP) plus RFC 7145 §6 (iSER), with its rule, range, default, use and sender.
/// Lookups are case-sensitive as the RFC requires.
/// </summary>
public static class KeyTable
{
    private const long Max24Bit = (1 << 24) - 1;

    public static readonly IReadOnlyList<string> DigestValues = new[] { "CRC32C", NegotiationValues.None };
    public static readonly IReadOnlyList<string> AuthMethodValues = new[] { "KRB5", "SRP", "SPKM1", "SPKM2", "CHAP", NegotiationValues.None };

    private static readonly KeyDefinition[] Definitions =
    {
        new() { Name = KeyNames.HeaderDigest, Type = KeyValueType.List, Rule = NegotiationRule.ListSelection, Use = KeyUse.InitializeOnly,
                Scope = KeyScope.Connection, Default = NegotiationValues.None, KnownValues = DigestValues },
        new() { Name = KeyNames.DataDigest, Type = KeyValueType.List, Rule = NegotiationRule.ListSelection, Use = KeyUse.InitializeOnly,
                Scope = KeyScope.Connection, Default = NegotiationValues.None, KnownValues = DigestValues },
        new() { Name = KeyNames.MaxConnections, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum, Use = KeyUse.LeadingOnly,
                Default = "1", Min = 1, Max = 65535, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.SendTargets, Type = KeyValueType.Text, Rule = NegotiationRule.Declarative, Use = KeyUse.FullFeatureOnly,
                Senders = KeySenders.Initiator },
        new() { Name = KeyNames.TargetName, Type = KeyValueType.IscsiName, Rule = NegotiationRule.Declarative, Use = KeyUse.InitializeOnly,
                MaxValueLength = 223, MayRepeat = true },
        new() { Name = KeyNames.InitiatorName, Type = KeyValueType.IscsiName, Rule = NegotiationRule.Declarative, Use = KeyUse.InitializeOnly,
                Senders = KeySenders.Initiator, MaxValueLength = 223 },
        new() { Name = KeyNames.TargetAlias, Type = KeyValueType.Text, Rule = NegotiationRule.Declarative, Use = KeyUse.All,
                Senders = KeySenders.Target },
        new() { Name = KeyNames.InitiatorAlias, Type = KeyValueType.Text, Rule = NegotiationRule.Declarative, Use = KeyUse.All,
                Senders = KeySenders.Initiator },
        new() { Name = KeyNames.TargetAddress, Type = KeyValueType.Text, Rule = NegotiationRule.Declarative, Use = KeyUse.All,
                Senders = KeySenders.Target, MayRepeat = true },
        new() { Name = KeyNames.TargetPortalGroupTag, Type = KeyValueType.Numerical, Rule = NegotiationRule.Declarative, Use = KeyUse.InitializeOnly,
                Senders = KeySenders.Target, Min = 0, Max = 65535 },
        new() { Name = KeyNames.InitialR2T, Type = KeyValueType.Boolean, Rule = NegotiationRule.BooleanOr, Use = KeyUse.LeadingOnly,
                Default = NegotiationValues.Yes, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.ImmediateData, Type = KeyValueType.Boolean, Rule = NegotiationRule.BooleanAnd, Use = KeyUse.LeadingOnly,
                Default = NegotiationValues.Yes, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.MaxRecvDataSegmentLength, Type = KeyValueType.Numerical, Rule = NegotiationRule.Declarative, Use = KeyUse.All,
                Scope = KeyScope.Connection, Default = "8192", Min = 512, Max = Max24Bit },
        new() { Name = KeyNames.MaxBurstLength, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum, Use = KeyUse.LeadingOnly,
                Default = "262144", Min = 512, Max = Max24Bit, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.FirstBurstLength, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum, Use = KeyUse.LeadingOnly,
                Default = "65536", Min = 512, Max = Max24Bit, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.DefaultTime2Wait, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMaximum, Use = KeyUse.LeadingOnly,
                Default = "2", Min = 0, Max = 3600 },
        new() { Name = KeyNames.DefaultTime2Retain, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum, Use = KeyUse.LeadingOnly,
                Default = "20", Min = 0, Max = 3600 },
        new() { Name = KeyNames.MaxOutstandingR2T, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum, Use = KeyUse.LeadingOnly,
                Default = "1", Min = 1, Max = 65535, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.DataPduInOrder, Type = KeyValueType.Boolean, Rule = NegotiationRule.BooleanOr, Use = KeyUse.LeadingOnly,
                Default = NegotiationValues.Yes, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.DataSequenceInOrder, Type = KeyValueType.Boolean, Rule = NegotiationRule.BooleanOr, Use = KeyUse.LeadingOnly,
                Default = NegotiationValues.Yes, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.ErrorRecoveryLevel, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum, Use = KeyUse.LeadingOnly,
                Default = "0", Min = 0, Max = 2 },
        new() { Name = KeyNames.SessionType, Type = KeyValueType.Enumerated, Rule = NegotiationRule.Declarative, Use = KeyUse.LeadingOnly,
                Senders = KeySenders.Initiator, Default = "Normal", KnownValues = new[] { "Discovery", "Normal" } },
        new() { Name = KeyNames.AuthMethod, Type = KeyValueType.List, Rule = NegotiationRule.ListSelection, Use = KeyUse.SecurityOnly,
                Scope = KeyScope.Connection, Default = NegotiationValues.None, KnownValues = AuthMethodValues },
        new() { Name = KeyNames.ChapAlgorithm, Type = KeyValueType.List, Rule = NegotiationRule.ListSelection, Use = KeyUse.SecurityOnly,
                Scope = KeyScope.Connection },
        new() { Name = KeyNames.ChapIdentifier, Type = KeyValueType.Numerical, Rule = NegotiationRule.Declarative, Use = KeyUse.SecurityOnly,
                Scope = KeyScope.Connection, Min = 0, Max = 255 },
        new() { Name = KeyNames.ChapChallenge, Type = KeyValueType.Binary, Rule = NegotiationRule.Declarative, Use = KeyUse.SecurityOnly,
                Scope = KeyScope.Connection, MaxBinaryLength = 1024 },
        new() { Name = KeyNames.ChapName, Type = KeyValueType.Text, Rule = NegotiationRule.Declarative, Use = KeyUse.SecurityOnly,
                Scope = KeyScope.Connection },
        new() { Name = KeyNames.ChapResponse, Type = KeyValueType.Binary, Rule = NegotiationRule.Declarative, Use = KeyUse.SecurityOnly,
                Scope = KeyScope.Connection, MaxBinaryLength = 1024 },
        new() { Name = KeyNames.TaskReporting, Type = KeyValueType.List, Rule = NegotiationRule.ListSelection, Use = KeyUse.LeadingOnly,
                Default = "RFC3720", KnownValues = new[] { "RFC3720", "ResponseFence", "FastAbort" }, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.IscsiProtocolLevel, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum, Use = KeyUse.LeadingOnly,
                Default = "1", Min = 0, Max = 31, IrrelevantInDiscovery = true },
        // RFC 7145 §6: iSER keys, irrelevant unless RDMAExtensions=Yes.
        new() { Name = KeyNames.RdmaExtensions, Type = KeyValueType.Boolean, Rule = NegotiationRule.BooleanAnd, Use = KeyUse.LeadingOnly,
                Default = NegotiationValues.No, IrrelevantInDiscovery = true },
        new() { Name = KeyNames.TargetRecvDataSegmentLength, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum,
                Use = KeyUse.InitializeOnly, Scope = KeyScope.Connection, Default = "8192", Min = 512, Max = Max24Bit, IserKey = true },
        new() { Name = KeyNames.InitiatorRecvDataSegmentLength, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum,
                Use = KeyUse.InitializeOnly, Scope = KeyScope.Connection, Default = "8192", Min = 512, Max = Max24Bit, IserKey = true },
        new() { Name = KeyNames.MaxOutstandingUnexpectedPdus, Type = KeyValueType.Numerical, Rule = NegotiationRule.NumericalMinimum,
                Use = KeyUse.LeadingOnly, Default = "0", Min = 2, Max = uint.MaxValue, ZeroMeansUnlimited = true, IserKey = true },
        // RFC 3720 marker keys, obsolete since RFC 7143 (§13.26): answered Reject.
        new() { Name = KeyNames.OFMarker, Type = KeyValueType.Boolean, Rule = NegotiationRule.BooleanAnd, Use = KeyUse.InitializeOnly, Obsolete = true },
        new() { Name = KeyNames.IFMarker, Type = KeyValueType.Boolean, Rule = NegotiationRule.BooleanAnd, Use = KeyUse.InitializeOnly, Obsolete = true },
        new() { Name = KeyNames.OFMarkInt, Type = KeyValueType.Text, Rule = NegotiationRule.Declarative, Use = KeyUse.InitializeOnly, Obsolete = true },
        new() { Name = KeyNames.IFMarkInt, Type = KeyValueType.Text, Rule = NegotiationRule.Declarative, Use = KeyUse.InitializeOnly, Obsolete = true },
    };

    private static readonly FrozenDictionary<string, KeyDefinition> ByName =
        Definitions.ToFrozenDictionary(d => d.Name, StringComparer.Ordinal);

    public static IReadOnlyCollection<KeyDefinition> All => Definitions;

    public static bool TryGet(string name, out KeyDefinition definition) => ByName.TryGetValue(name, out definition!);

    public static KeyDefinition Get(string name) =>
        ByName.TryGetValue(name, out var d) ? d : throw new KeyNotFoundException($"{name} is not a key this library knows.");

    /// <summary>The security-stage keys (AuthMethod and CHAP_*), which are processed before any operational key.</summary>
    public static bool IsSecurityKey(string name) => ByName.TryGetValue(name, out var d) && d.Use == KeyUse.SecurityOnly;

    /// <summary>Keys that only identify the session and are declared in the first login request.</summary>
    public static bool IsIdentityKey(string name) =>
        name is KeyNames.InitiatorName or KeyNames.TargetName or KeyNames.SessionType or KeyNames.InitiatorAlias;
}
