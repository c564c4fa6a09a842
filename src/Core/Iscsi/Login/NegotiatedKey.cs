namespace Iser.Core.Iscsi.Login;

/// <summary>
/// One key of a finished (or failed) login, for <c>iser session show</c> and logs: what was offered or declared,
/// what the other side answered, and the value in force. <see cref="OfferedByPeer"/> tells which side offered.
/// </summary>
public sealed record NegotiatedKey(string Name, string? Requested, string? Answered, string Result)
{
    /// <summary>True when the other side made the offer and this side answered.</summary>
    public bool OfferedByPeer { get; init; }

    public override string ToString() =>
        $"{Name}: {(OfferedByPeer ? "peer offered" : "offered")} {Requested ?? "-"}, answer {Answered ?? "-"}, result {Result}";
}
