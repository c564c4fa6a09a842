using System.Globalization;

namespace Iser.Storage.Rbd;

/// <summary>
/// An RBD image as a LUN spec names it: <c>POOL/IMAGE[@SNAPSHOT]</c>, then options after colons, the same on the
/// command line (<c>--lun rbd:...</c>) and in the config file's "luns": <c>conf=PATH</c> (ceph.conf; default: librados'
/// own search, /etc/ceph/ceph.conf first), <c>id=CLIENT</c> (default admin), <c>keyring=PATH</c>,
/// <c>timeout=SECONDS</c> (how long connecting and monitor requests may take, default 10), <c>pr=shared|local</c>
/// (persistent reservations kept beside the image for every gateway serving it, the default for a writable image, or
/// in each target's memory; a snapshot's are always local), <c>alua=shared|local|auto</c> (the ALUA target port groups
/// of every gateway serving the image reported through each of them, the default for a writable image; only each
/// target's own; or shared, and a gateway whose peer with the active/optimized group is gone makes its own groups
/// active/optimized). Paths cannot hold colons.
/// </summary>
public sealed record RbdImageSpec(string Pool, string Image, string? Snapshot = null)
{
    public const string Syntax = "rbd:POOL/IMAGE[@SNAPSHOT][:conf=PATH][:id=CLIENT][:keyring=PATH][:timeout=SECONDS][:pr=shared|local][:alua=shared|local|auto]";

    public string? ConfigFile { get; init; }
    public string? ClientId { get; init; }
    public string? Keyring { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>pr=local: persistent reservations stay in each target's memory instead of beside the image.</summary>
    public bool LocalReservations { get; init; }

    /// <summary>Whether the reservations are kept beside the image, shared by every gateway serving it.</summary>
    public bool SharesReservations => !LocalReservations && !IsSnapshot;

    /// <summary>alua=local: each target reports its own target port groups only.</summary>
    public bool LocalAccessStates { get; init; }

    /// <summary>alua=auto: when the gateway with the active/optimized group is gone, this one's groups take over.</summary>
    public bool TakesOverAccess { get; init; }

    /// <summary>Whether the target port groups of every gateway are kept beside the image and reported by each.</summary>
    public bool SharesAccessStates => !LocalAccessStates && !IsSnapshot;

    /// <summary>True for a snapshot: served read-only.</summary>
    public bool IsSnapshot => Snapshot is not null;

    public static RbdImageSpec Parse(string text)
    {
        var parts = text.Split(':');
        string name = parts[0];
        int slash = name.IndexOf('/');
        if (slash <= 0 || slash == name.Length - 1 || name.IndexOf('/', slash + 1) >= 0)
            throw new FormatException($"'{text}' does not name an image as POOL/IMAGE; expected {Syntax}.");
        string pool = name[..slash];
        string image = name[(slash + 1)..];
        string? snapshot = null;
        int at = image.IndexOf('@');
        if (at >= 0)
        {
            snapshot = image[(at + 1)..];
            image = image[..at];
            if (image.Length == 0 || snapshot.Length == 0)
                throw new FormatException($"'{text}' has an empty image or snapshot name around '@'; expected {Syntax}.");
        }
        var spec = new RbdImageSpec(pool, image, snapshot);
        foreach (var option in parts.Skip(1))
        {
            int equals = option.IndexOf('=');
            string key = equals < 0 ? option : option[..equals];
            string value = equals < 0 ? "" : option[(equals + 1)..];
            if (value.Length == 0) throw new FormatException($"The option '{option}' in '{text}' has no value; expected {Syntax}.");
            spec = key.ToLowerInvariant() switch
            {
                "conf" => spec with { ConfigFile = value },
                "id" => spec with { ClientId = value },
                "keyring" => spec with { Keyring = value },
                "timeout" => spec with { Timeout = ParseTimeout(value, text) },
                "pr" => spec with { LocalReservations = ParseReservations(value, text) },
                "alua" => ParseAccessStates(spec, value, text),
                _ => throw new FormatException($"The option '{key}' in '{text}' is unknown (conf, id, keyring, timeout, pr, alua); expected {Syntax}."),
            };
        }
        return spec;
    }

    private static TimeSpan ParseTimeout(string value, string text) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds is >= 1 and <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException($"timeout={value} in '{text}' is not a number of seconds from 1 to 3600.");

    private static bool ParseReservations(string value, string text) => value.ToLowerInvariant() switch
    {
        "shared" => false,
        "local" => true,
        _ => throw new FormatException($"pr={value} in '{text}' is neither shared nor local."),
    };

    private static RbdImageSpec ParseAccessStates(RbdImageSpec spec, string value, string text) => value.ToLowerInvariant() switch
    {
        "shared" => spec with { LocalAccessStates = false, TakesOverAccess = false },
        "local" => spec with { LocalAccessStates = true, TakesOverAccess = false },
        "auto" => spec with { LocalAccessStates = false, TakesOverAccess = true },
        _ => throw new FormatException($"alua={value} in '{text}' is none of shared, local, auto."),
    };

    public override string ToString() => $"rbd:{Pool}/{Image}{(Snapshot is null ? "" : "@" + Snapshot)}";
}
