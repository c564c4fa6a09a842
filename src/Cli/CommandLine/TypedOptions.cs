using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Cli.CommandLine;

/// <summary>
/// Options with a type and their own parser: a bad value is a parse error in words that names the option
/// ("--queue-depth must be 1 to 1024, not 0."), so every command reports it the same way and before it connects.
/// </summary>
internal static class TypedOptions
{
    public static Option<string> Text(string name, string description, string? helpName = null, params string[] aliases) =>
        new(name, aliases) { Description = description, HelpName = helpName };

    /// <summary>Repeatable (`--lun A --lun B`): every occurrence's value, in order; empty when not given.</summary>
    public static Option<List<string>> Repeated(string name, string description, string? helpName = null) =>
        new(name)
        {
            Description = description, HelpName = helpName, Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false,
            DefaultValueFactory = _ => [],
        };

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>; null when not given.</summary>
    public static Option<int?> Int(string name, string description, int min, int max, int? defaultValue = null, params string[] aliases)
    {
        var option = new Option<int?>(name, aliases) { Description = description, HelpName = "N" };
        option.CustomParser = r =>
        {
            string text = Single(r);
            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n))
                return Fail<int?>(r, $"{name} takes a whole number, not '{text}'.");
            if (n < min || n > max) return Fail<int?>(r, $"{name} must be {min} to {max}, not {n}.");
            return n;
        };
        if (defaultValue is int d) option.DefaultValueFactory = _ => d;
        return option;
    }

    /// <summary>A whole number of zero or more (an LBA, a block count); null when not given.</summary>
    public static Option<long?> Long(string name, string description, long min = 0)
    {
        var option = new Option<long?>(name) { Description = description, HelpName = "N" };
        option.CustomParser = r =>
        {
            string text = Single(r);
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n))
                return Fail<long?>(r, $"{name} takes a whole number, not '{text}'.");
            return n < min ? Fail<long?>(r, $"{name} must be at least {min}, not {n}.") : n;
        };
        return option;
    }

    /// <summary>A number of seconds (fractions allowed), zero or more; null when not given.</summary>
    public static Option<double?> Seconds(string name, string description)
    {
        var option = new Option<double?>(name) { Description = description, HelpName = "SECONDS" };
        option.CustomParser = r =>
        {
            string text = Single(r);
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) && n >= 0 && double.IsFinite(n)
                ? n : Fail<double?>(r, $"{name} takes a number of seconds, not '{text}'.");
        };
        return option;
    }

    /// <summary>A byte count such as 4096, 4k, 128K, 64M or 1G (powers of 1024); null when not given.</summary>
    /// <param name="check">Further limits: the error in words, or null when the size will do.</param>
    public static Option<long?> Size(string name, string description, Func<long, string?>? check = null, params string[] aliases)
    {
        var option = new Option<long?>(name, aliases) { Description = description, HelpName = "SIZE" };
        option.CustomParser = r =>
        {
            string text = Single(r);
            if (!ByteSize.TryParse(text, out long n) || n <= 0) return Fail<long?>(r, $"{name} takes a size such as 4k, 128K, 64M or 1G, not '{text}'.");
            return check?.Invoke(n) is { } error ? Fail<long?>(r, error) : n;
        };
        return option;
    }

    /// <summary>A duration such as 10, 10s, 500ms or 2m (plain numbers are seconds).</summary>
    public static Option<TimeSpan?> Duration(string name, string description, params string[] aliases)
    {
        var option = new Option<TimeSpan?>(name, aliases) { Description = description, HelpName = "DURATION" };
        option.CustomParser = r =>
        {
            string text = Single(r);
            return ParseDuration(text) is TimeSpan t ? t
                : Fail<TimeSpan?>(r, $"{name} takes a duration such as 10s, 500ms or 2m, not '{text}'.");
        };
        return option;
    }

    /// <summary>
    /// One of a fixed set of words (case-insensitive), offered to shell completion; the error lists them.
    /// </summary>
    public static Option<T?> Choice<T>(string name, string description, IReadOnlyList<(string Word, T Value)> choices, params string[] aliases)
    {
        var words = choices.Select(c => c.Word).ToArray();
        var option = new Option<T?>(name, aliases) { Description = description, HelpName = string.Join('|', words) };
        option.CustomParser = r =>
        {
            string text = Single(r);
            foreach (var (word, value) in choices)
                if (string.Equals(word, text, StringComparison.OrdinalIgnoreCase)) return value;
            return Fail<T?>(r, $"{name} must be {Either(words)}, not '{text}'.");
        };
        option.CompletionSources.Clear(); // an enum type would offer its member names too
        option.CompletionSources.Add(words);
        return option;
    }

    /// <summary>"a, b or c".</summary>
    internal static string Either(IReadOnlyList<string> words) =>
        words.Count == 1 ? words[0] : string.Join(", ", words.Take(words.Count - 1)) + " or " + words[^1];

    /// <summary>A positive duration, or null.</summary>
    internal static TimeSpan? ParseDuration(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (s.EndsWith("ms", StringComparison.Ordinal)) { scale = 0.001; s = s[..^2]; }
        else if (s.EndsWith('s')) s = s[..^1];
        else if (s.EndsWith('m')) { scale = 60; s = s[..^1]; }
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) && double.IsFinite(n) && n > 0
            ? TimeSpan.FromSeconds(n * scale) : null;
    }

    private static string Single(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";

    private static T? Fail<T>(ArgumentResult r, string message)
    {
        r.AddError(message);
        return default;
    }
}
