namespace Iser.Core.Iscsi.Login;

/// <summary>What the target knows after the first Login Request: who is asking, for what.</summary>
public readonly record struct TargetLookupRequest(string InitiatorName, string? TargetName, bool IsDiscovery);

public enum TargetLookupOutcome
{
    Found,
    /// <summary>No such target: Login Response 0x0203.</summary>
    NotFound,
    /// <summary>The target exists but this initiator may not use it (ACL): 0x0202.</summary>
    NotAuthorized,
    /// <summary>The target was removed: 0x0204.</summary>
    Removed,
    /// <summary>The target cannot take a session now: 0x0301.</summary>
    Unavailable,
}

/// <summary>The target policy's decision for one login.</summary>
public sealed record TargetLookupResult
{
    public required TargetLookupOutcome Outcome { get; init; }
    public string? TargetAlias { get; init; }
    /// <summary>When set, the initiator must authenticate with CHAP using this user name and secret.</summary>
    public ChapCredentials? InitiatorCredentials { get; init; }
    /// <summary>When set, the target can prove itself to the initiator (mutual CHAP) with these.</summary>
    public ChapCredentials? TargetCredentials { get; init; }
    /// <summary>CHAP algorithms accepted (null: every one supported here).</summary>
    public IReadOnlyList<ChapAlgorithm>? ChapAlgorithms { get; init; }

    public static TargetLookupResult Found(string? alias = null) => new() { Outcome = TargetLookupOutcome.Found, TargetAlias = alias };
    public static TargetLookupResult NotFound { get; } = new() { Outcome = TargetLookupOutcome.NotFound };
    public static TargetLookupResult NotAuthorized { get; } = new() { Outcome = TargetLookupOutcome.NotAuthorized };
}
