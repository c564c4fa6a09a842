using System.Text.Json;
using System.Text.Json.Serialization;

namespace Iser.Cli.Config;

/// <summary>
/// The JSON form of `iser target --config FILE`:
/// { "portals": ["127.0.0.1:3260", "127.0.0.2:3260,2"], "alua": { "2": "standby" }, "targets": [ { "iqn": "...", "alias": "...", "luns": ["ram:1G"],
///   "allowedInitiators": [], "chap": {"user":"u","secret":"..."}, "mutualChap": {...} } ],
///   "queueDepth": 128, "errorRecoveryLevel": 2, "maxConnections": 8, "nopInIntervalSeconds": 30, "blockSize": 512 }
/// </summary>
internal sealed class TargetConfigFile
{
    /// <summary>HOST[:PORT][,TPGT] each (<see cref="Iser.Hosting.PortalSpec"/>).</summary>
    public List<string> Portals { get; set; } = new();
    /// <summary>Asymmetric access state by portal group at start, e.g. { "2": "standby" } (<see cref="AluaSpec"/>).</summary>
    public Dictionary<string, string> Alua { get; set; } = new();

    /// <summary>The "alua" entries as `--alua` spells them (GROUP=STATE), for <see cref="AluaSpec.ParseAll"/>.</summary>
    public IEnumerable<string> AluaSettings() => Alua.Select(kv => $"{kv.Key}={kv.Value}");
    public List<TargetEntry> Targets { get; set; } = new();
    public int? QueueDepth { get; set; }
    public int? ErrorRecoveryLevel { get; set; }
    public int? MaxConnections { get; set; }
    public double? NopInIntervalSeconds { get; set; }
    public int? BlockSize { get; set; }
    public bool? Iser { get; set; }

    public sealed class TargetEntry
    {
        public string Iqn { get; set; } = "";
        public string? Alias { get; set; }
        public List<string> Luns { get; set; } = new();
        public List<string> AllowedInitiators { get; set; } = new();
        public ChapEntry? Chap { get; set; }
        public ChapEntry? MutualChap { get; set; }
        /// <summary>CHAP algorithms accepted, e.g. "sha256,sha3-256" (refuses MD5); absent: all supported.</summary>
        public string? ChapAlgorithms { get; set; }
    }

    public sealed class ChapEntry
    {
        public string User { get; set; } = "";
        public string Secret { get; set; } = "";
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public static TargetConfigFile Load(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize<TargetConfigFile>(stream, Json)
                ?? throw new UsageException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new UsageException($"{path}: {e.Message}");
        }
    }
}
