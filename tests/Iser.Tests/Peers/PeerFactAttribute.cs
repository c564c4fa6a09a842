namespace Iser.Tests.Peers;

/// <summary>Which external peers a test needs.</summary>
[Flags]
public enum Peer
{
    None = 0,
    /// <summary>tgtd and tgtadm (Debian 'tgt').</summary>
    Tgtd = 1,
    /// <summary>iscsi-inq, iscsi-ls, iscsi-readcapacity16, iscsi-test-cu, iscsi-perf (Debian 'libiscsi-bin').</summary>
    LibiscsiTools = 2,
    /// <summary>libiscsi.so.7 (Debian 'libiscsi7'), used through P/Invoke by <see cref="LibiscsiSession"/>.</summary>
    LibiscsiLibrary = 4,
}

/// <summary>Decides at discovery time whether the peers a test needs are installed.</summary>
internal static class PeerRequirement
{
    /// <summary>Null when every required peer is present, else a reason naming the package to install.</summary>
    public static string? MissingReason(Peer required)
    {
        var reasons = new List<string>();
        if (required.HasFlag(Peer.Tgtd) && PeerTools.TgtdMissingReason is { } tgtd)
            reasons.Add(tgtd);
        if (required.HasFlag(Peer.LibiscsiTools) && PeerTools.LibiscsiMissingReason is { } tools)
            reasons.Add(tools);
        if (required.HasFlag(Peer.LibiscsiLibrary) && LibiscsiSession.MissingReason is { } library)
            reasons.Add(library);
        return reasons.Count == 0 ? null : string.Join(" ", reasons);
    }
}

/// <summary>
/// A [Fact] that is skipped, with a reason, only when a required peer program is not installed.
/// xunit 2.9 has no runtime skip, so the check runs when the attribute is constructed at discovery.
/// </summary>
public sealed class PeerFactAttribute : FactAttribute
{
    public PeerFactAttribute(Peer required)
    {
        Required = required;
        Skip = PeerRequirement.MissingReason(required)!;
    }

    public Peer Required { get; }
}

/// <summary>The [Theory] form of <see cref="PeerFactAttribute"/>.</summary>
public sealed class PeerTheoryAttribute : TheoryAttribute
{
    public PeerTheoryAttribute(Peer required)
    {
        Required = required;
        Skip = PeerRequirement.MissingReason(required)!;
    }

    public Peer Required { get; }
}
