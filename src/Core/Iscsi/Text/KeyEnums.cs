namespace Iser.Core.Iscsi.Text;

/// <summary>How the result of a key is reached (RFC 7143 §6.2.1, §6.2.2).</summary>
public enum NegotiationRule
{
    /// <summary>Each side states its own value; no answer is expected (e.g. MaxRecvDataSegmentLength, TargetName).</summary>
    Declarative,
    /// <summary>The offer is an ordered list; the responder picks the first value it supports.</summary>
    ListSelection,
    /// <summary>Yes only if both say Yes (e.g. ImmediateData).</summary>
    BooleanAnd,
    /// <summary>Yes if either says Yes (e.g. InitialR2T).</summary>
    BooleanOr,
    /// <summary>The smaller of the two values (e.g. MaxBurstLength, ErrorRecoveryLevel).</summary>
    NumericalMinimum,
    /// <summary>The larger of the two values (DefaultTime2Wait).</summary>
    NumericalMaximum,
}

/// <summary>The syntax of a key's value (RFC 7143 §6.1).</summary>
public enum KeyValueType
{
    Text,
    IscsiName,
    Boolean,
    Numerical,
    /// <summary>A comma-separated list of tokens (digests, AuthMethod, CHAP_A, TaskReporting).</summary>
    List,
    /// <summary>A single token from a fixed set (SessionType).</summary>
    Enumerated,
    /// <summary>hex-constant (0x...) or base64-constant (0b...).</summary>
    Binary,
}

/// <summary>Who may send a key.</summary>
[Flags]
public enum KeySenders
{
    Initiator = 1,
    Target = 2,
    Both = Initiator | Target,
}

/// <summary>When a key may be used (the RFC's "Use:" line).</summary>
public enum KeyUse
{
    /// <summary>LO: only on the leading connection of a session, during login.</summary>
    LeadingOnly,
    /// <summary>IO: during login of any connection (InitiatorName, digests...).</summary>
    InitializeOnly,
    /// <summary>ALL: in login and in full feature phase Text requests.</summary>
    All,
    /// <summary>FFPO: only in full feature phase (SendTargets).</summary>
    FullFeatureOnly,
    /// <summary>Security negotiation stage only (AuthMethod, CHAP_*).</summary>
    SecurityOnly,
}

/// <summary>Whether a negotiated value applies to the whole session or one connection.</summary>
public enum KeyScope
{
    Session,
    Connection,
}
