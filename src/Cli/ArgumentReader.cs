namespace Iser.Cli;

/// <summary>Small `--name value` / `--flag` reader: no package, predictable errors.</summary>
internal sealed class ArgumentReader
{
    private readonly List<string> _args;
    private readonly HashSet<int> _used = new();

    public ArgumentReader(IEnumerable<string> args) => _args = args.ToList();

    public bool Flag(params string[] names)
    {
        for (int i = 0; i < _args.Count; i++)
            if (!_used.Contains(i) && names.Contains(_args[i])) { _used.Add(i); return true; }
        return false;
    }

    public string? Value(params string[] names) => Values(names).LastOrDefault();

    public List<string> Values(params string[] names)
    {
        var found = new List<string>();
        for (int i = 0; i < _args.Count; i++)
        {
            if (_used.Contains(i) || !names.Contains(_args[i])) continue;
            if (i + 1 >= _args.Count) throw new UsageException($"{_args[i]} needs a value.");
            _used.Add(i);
            _used.Add(i + 1);
            found.Add(_args[i + 1]);
            i++;
        }
        return found;
    }

    public int? Int(params string[] names)
    {
        var v = Value(names);
        if (v is null) return null;
        return int.TryParse(v, out int n) ? n : throw new UsageException($"{names[0]} takes a whole number, not '{v}'.");
    }

    public long? Long(params string[] names)
    {
        var v = Value(names);
        if (v is null) return null;
        return long.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n) ? n
            : throw new UsageException($"{names[0]} takes a whole number, not '{v}'.");
    }

    /// <summary>A byte count such as 4096, 4k, 128K, 64M or 1G (powers of 1024).</summary>
    public long? Size(params string[] names)
    {
        var v = Value(names);
        if (v is null) return null;
        return Iser.Core.Scsi.Target.Stores.ByteSize.TryParse(v, out long n) && n > 0 ? n
            : throw new UsageException($"{names[0]} takes a size such as 4k, 128K, 64M or 1G, not '{v}'.");
    }

    /// <summary>A duration such as 10, 10s, 500ms or 2m (plain numbers are seconds).</summary>
    public TimeSpan? Duration(params string[] names)
    {
        var v = Value(names);
        if (v is null) return null;
        var s = v.Trim().ToLowerInvariant();
        double scale = 1;
        if (s.EndsWith("ms", StringComparison.Ordinal)) { scale = 0.001; s = s[..^2]; }
        else if (s.EndsWith('s')) s = s[..^1];
        else if (s.EndsWith('m')) { scale = 60; s = s[..^1]; }
        return double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double n) && n > 0
            ? TimeSpan.FromSeconds(n * scale)
            : throw new UsageException($"{names[0]} takes a duration such as 10s, 500ms or 2m, not '{v}'.");
    }

    public double? Double(params string[] names)
    {
        var v = Value(names);
        if (v is null) return null;
        return double.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out double n) ? n
            : throw new UsageException($"{names[0]} takes a number, not '{v}'.");
    }

    /// <summary>Arguments that are not options, in order (e.g. a URL or portal).</summary>
    public List<string> Positionals()
    {
        var list = new List<string>();
        for (int i = 0; i < _args.Count; i++)
            if (!_used.Contains(i) && !_args[i].StartsWith('-')) { _used.Add(i); list.Add(_args[i]); }
        return list;
    }

    /// <summary>Fails on anything no one asked for, so a typo is never silently ignored.</summary>
    public void EnsureAllUsed()
    {
        for (int i = 0; i < _args.Count; i++)
            if (!_used.Contains(i)) throw new UsageException($"unknown argument '{_args[i]}'.");
    }
}
