namespace Iser.Hosting;

/// <summary>
/// A target as configuration describes it (appsettings.json, environment, command line), bound by
/// <see cref="IscsiTargetServiceCollectionExtensions.AddIscsiTarget"/> and checked at start
/// (<see cref="IscsiTargetHostOptionsValidator"/>). The same shapes as `iser target --config`.
/// </summary>
public sealed class IscsiTargetHostOptions
{
    /// <summary>"HOST[:PORT][,TPGT]" (<see cref="PortalSpec"/>: port default 3260, portal group tag default 1); TCP. Port 0: the system chooses (see the service's Endpoints).</summary>
    public List<string> Portals { get; set; } = [];
    public List<TargetNodeOptions> Targets { get; set; } = [];
    /// <summary>Commands in flight per session (the CmdSN window).</summary>
    public int? QueueDepth { get; set; }
    public int? ErrorRecoveryLevel { get; set; }
    public int? MaxConnections { get; set; }
    /// <summary>Logical block size of every LUN: 512 or 4096.</summary>
    public int BlockSize { get; set; } = 512;
}

/// <summary>One target node: its name, LUNs (store specs as `--lun` takes them) and access rules.</summary>
public sealed class TargetNodeOptions
{
    public string Iqn { get; set; } = "";
    public string? Alias { get; set; }
    /// <summary>LUN 0, 1, ... in order: "ram:SIZE", "file:PATH[:SIZE][:direct]", "null:SIZE".</summary>
    public List<string> Luns { get; set; } = [];
    /// <summary>Initiator names allowed to log in; empty: everyone.</summary>
    public List<string> AllowedInitiators { get; set; } = [];
    public ChapOptions? Chap { get; set; }
    public ChapOptions? MutualChap { get; set; }
}

public sealed class ChapOptions
{
    public string User { get; set; } = "";
    public string Secret { get; set; } = "";
}
