namespace Iser.Tests.Peers;

/// <summary>How <see cref="OurTargetProcess"/> starts `iser target`.</summary>
public sealed record OurTargetOptions
{
    /// <summary>Target name; a unique one is made when null.</summary>
    public string? TargetIqn { get; init; }

    /// <summary>One --lun per entry, in order: "ram:64M" or "file:/path".</summary>
    public IReadOnlyList<string> Luns { get; init; } = new[] { "ram:64M" };

    /// <summary>--chap-user / --chap-secret: the initiator must authenticate with these.</summary>
    public ChapCredentials? Chap { get; init; }

    /// <summary>--config FILE.</summary>
    public string? ConfigFile { get; init; }

    /// <summary>Appended verbatim after the options above.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = Array.Empty<string>();

    /// <summary>Also listen on 127.0.0.2 (same port): a second path to the same LUNs, for multipath tests.</summary>
    public bool SecondLoopbackPortal { get; init; }

    /// <summary>The portal group (TPGT) of the target's portals; null: the target's default, 1. Two gateways of one image use two.</summary>
    public ushort? PortalGroupTag { get; init; }

    /// <summary>Environment variables for the process (beside the inherited ones).</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>How long to wait for the "ready" line.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
