using Iser.Storage.Rbd.Native;

namespace Iser.Tests.Rbd;

/// <summary>
/// A [Fact] that needs the test Ceph cluster: skipped, with the reason, when this machine has no Ceph daemons or no
/// librbd. (xunit 2.9 has no runtime skip, so the check is made at discovery; it does not start the cluster or install
/// anything: `tests/ceph/cluster.sh start` once installs the packages.)
/// </summary>
public sealed class CephFactAttribute : FactAttribute
{
    public CephFactAttribute()
    {
        if (MissingReason is { } reason) Skip = reason;
    }

    internal static string? MissingReason
    {
        get
        {
            if (!OperatingSystem.IsLinux()) return "needs Linux (Ceph daemons and librbd)";
            foreach (var program in new[] { "ceph-mon", "ceph-osd", "rbd" })
                if (!File.Exists(Path.Combine("/usr/bin", program)))
                    return $"needs the Ceph packages ({program} is missing): run tests/ceph/cluster.sh start once, it installs ceph-mon, ceph-osd and ceph-common";
            return CephLibraries.NotSupportedReason;
        }
    }
}

/// <summary>A [Fact] that needs librbd and librados but no cluster: skipped, with the reason, without them.</summary>
public sealed class LibrbdFactAttribute : FactAttribute
{
    public LibrbdFactAttribute()
    {
        if (CephLibraries.NotSupportedReason is { } reason) Skip = reason;
    }
}

/// <summary>
/// The [Theory] form of <see cref="CephFactAttribute"/> for tests that also need external peers (libiscsi's tools, tgtd):
/// skipped, with the reason, when the Ceph packages, librbd or one of those peers is missing.
/// </summary>
public sealed class CephTheoryAttribute : TheoryAttribute
{
    public CephTheoryAttribute(Iser.Tests.Peers.Peer alsoRequired = Iser.Tests.Peers.Peer.None)
    {
        if ((CephFactAttribute.MissingReason ?? Iser.Tests.Peers.PeerRequirement.MissingReason(alsoRequired)) is { } reason)
            Skip = reason;
    }
}
