namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// Turns a command-line store description into a store:
/// <c>ram:SIZE</c>, <c>null:SIZE</c>, <c>file:PATH</c>, <c>file:PATH:SIZE</c>, optionally followed by <c>:direct</c>
/// for O_DIRECT file access. Sizes take K/M/G/T suffixes (powers of 1024).
/// </summary>
public static class BackingStoreSpec
{
    public const string Syntax = "ram:SIZE, null:SIZE or file:PATH[:SIZE][:direct] (SIZE like 512M, 1G, 2T)";

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
            _ => throw new FormatException($"The backing store kind '{spec[..colon]}' is unknown; expected {Syntax}."),
        };
    }

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
