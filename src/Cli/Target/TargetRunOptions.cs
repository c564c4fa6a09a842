using Iser.Cli.Config;

namespace Iser.Cli.Target;

/// <summary>
/// What `iser target`'s command line asked for, once parsed: the configuration (the file's, with the command line's
/// portals, target and settings applied over it) and the settings that live only on the command line.
/// <see cref="TargetHost"/> runs it.
/// </summary>
internal sealed class TargetRunOptions
{
    public required TargetConfigFile Config { get; init; }
    /// <summary>--config: read again on SIGHUP; null: a reload says there is nothing to read.</summary>
    public string? ConfigPath { get; init; }
    /// <summary>--alua GROUP=STATE, applied after the file's "alua" entries (the later setting for a group wins).</summary>
    public IReadOnlyList<string> Alua { get; init; } = [];
    /// <summary>--iser: each portal also accepts iSER (the file's "iser": true does too).</summary>
    public bool Iser { get; init; }
    public double? IserNopIntervalSeconds { get; init; }
    /// <summary>--metrics HOST:PORT.</summary>
    public string? Metrics { get; init; }
    public string? LogLevel { get; init; }
    /// <summary>--log CATEGORY=LEVEL,...</summary>
    public string? LogCategories { get; init; }
}
