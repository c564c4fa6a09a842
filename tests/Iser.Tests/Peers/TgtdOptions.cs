namespace Iser.Tests.Peers;

/// <summary>How a <see cref="TgtdInstance"/> is set up: one target, file-backed LUNs, optional CHAP.</summary>
public sealed record TgtdOptions
{
    /// <summary>Target name; a unique one is made when null.</summary>
    public string? TargetIqn { get; init; }

    /// <summary>One file-backed disk LUN per entry, numbered from 1 (tgtd keeps LUN 0 for its controller).</summary>
    public IReadOnlyList<long> LunSizesInBytes { get; init; } = new[] { 64L * 1024 * 1024 };

    /// <summary>Incoming account: the initiator must authenticate with this CHAP name and secret.</summary>
    public ChapCredentials? Chap { get; init; }

    /// <summary>Outgoing account for mutual CHAP: the target proves itself with this name and secret.</summary>
    public ChapCredentials? MutualChap { get; init; }
}
