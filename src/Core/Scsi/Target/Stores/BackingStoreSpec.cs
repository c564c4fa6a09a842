using System.Collections.Concurrent;
using System.Reflection;

namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// Turns a command-line store description into a store:
/// <c>ram:SIZE</c>, <c>null:SIZE</c>, <c>file:PATH</c>, <c>file:PATH:SIZE</c>, optionally followed by <c>:direct</c>
/// for O_DIRECT file access. Sizes take K/M/G/T suffixes (powers of 1024). Other kinds come from store assemblies
/// (<see cref="IBackingStoreKind"/>), e.g. <c>rbd:POOL/IMAGE</c> from Iser.Storage.Rbd.
/// </summary>
public static class BackingStoreSpec
{
    public const string Syntax = "ram:SIZE, null:SIZE or file:PATH[:SIZE][:direct] (SIZE like 512M, 1G, 2T)";

    private static readonly ConcurrentDictionary<string, IBackingStoreKind> Kinds = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Adds (or replaces) a kind of store that <see cref="Parse"/> accepts.</summary>
    public static void Register(IBackingStoreKind kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        Kinds[kind.Name] = kind;
    }

    public static IBackingStore Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
            throw new FormatException($"The backing store is empty; expected {Syntax}.");
        int colon = spec.IndexOf(':');
        if (colon <= 0)
            throw new FormatException($"The backing store '{spec}' has no kind; expected {Syntax}.");
        string kind = spec[..colon].ToLowerInvariant();
        string rest = spec[(colon + 1)..];
        return kind switch
        {
            "ram" => new RamBackingStore(ParseSize(rest, spec)),
            "null" => new NullBackingStore(ParseSize(rest, spec)),
            "file" => ParseFile(rest, spec),
            _ => FindKind(spec[..colon], spec).Open(rest),
        };
    }

    private static IBackingStoreKind FindKind(string name, string spec)
    {
        if (Kinds.TryGetValue(name, out var kind)) return kind;
        // Not registered: an assembly Iser.Storage.<Name> beside the program may provide it. Only a name made of
        // letters is looked up, so a typo cannot load an arbitrary assembly.
        if (name.All(char.IsAsciiLetter) && LoadKinds(name) is { } found) return found;
        throw new FormatException($"The backing store kind '{name}' is unknown (in '{spec}'); expected {Syntax}{KnownKinds()}.");
    }

    private static IBackingStoreKind? LoadKinds(string name)
    {
        Assembly assembly;
        try { assembly = Assembly.Load(new AssemblyName($"Iser.Storage.{char.ToUpperInvariant(name[0])}{name[1..].ToLowerInvariant()}")); }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException) { return null; }
        foreach (var attribute in assembly.GetCustomAttributes<BackingStoreKindAttribute>())
            if (Activator.CreateInstance(attribute.Kind) is IBackingStoreKind kind) Kinds.TryAdd(kind.Name, kind);
        return Kinds.GetValueOrDefault(name);
    }

    private static string KnownKinds() =>
        Kinds.IsEmpty ? "" : ", or " + string.Join(", ", Kinds.Values.Select(k => k.Syntax));

    private static IBackingStore ParseFile(string rest, string spec)
    {
        bool direct = false;
        if (rest.EndsWith(":direct", StringComparison.OrdinalIgnoreCase))
        {
            direct = true;
            rest = rest[..^":direct".Length];
        }
        long? size = null;
        // The size is the last colon-separated part when it reads as a size; paths may contain colons.
        int last = rest.LastIndexOf(':');
        if (last > 0 && ByteSize.TryParse(rest[(last + 1)..], out var parsed))
        {
            if (parsed <= 0) throw new FormatException($"The size in the backing store '{spec}' must be positive.");
            size = parsed;
            rest = rest[..last];
        }
        if (rest.Length == 0) throw new FormatException($"The backing store '{spec}' has no file path; expected {Syntax}.");
        return FileBackingStore.Open(rest, size, direct);
    }

    private static long ParseSize(string text, string spec)
    {
        if (!ByteSize.TryParse(text, out var size))
            throw new FormatException($"The size '{text}' in the backing store '{spec}' is not a size; expected a number with an optional K, M, G or T suffix, e.g. 1G.");
        if (size <= 0) throw new FormatException($"The size in the backing store '{spec}' must be positive.");
        return size;
    }
}
