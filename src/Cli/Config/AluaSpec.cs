using System.Globalization;
using Iser.Core.Scsi.Target.Alua;

namespace Iser.Cli.Config;

/// <summary>
/// An asymmetric access state for a portal group as `--alua` spells it: GROUP=STATE, the group a portal group tag and
/// the state one of <see cref="AluaStateNames.Choices"/>.
/// </summary>
internal readonly record struct AluaSpec(ushort Group, AluaState State)
{
    public static AluaSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int equals = text.IndexOf('=');
        if (equals < 0) throw new UsageException($"--alua '{text}': expected GROUP=STATE, e.g. 2=standby.");
        var group = text[..equals].Trim();
        var state = text[(equals + 1)..].Trim();
        if (!ushort.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out ushort id) || id == 0)
            throw new UsageException($"--alua '{text}': the group must be a portal group tag from 1 to 65535, not '{group}'.");
        if (!AluaStateNames.TryParse(state, out var s))
            throw new UsageException($"--alua '{text}': unknown state '{state}' (one of {AluaStateNames.Choices}).");
        return new AluaSpec(id, s);
    }

    /// <summary>
    /// The states to set at start, checked against the portal groups the target listens in; a later setting for the same
    /// group wins.
    /// </summary>
    public static IReadOnlyList<AluaSpec> ParseAll(IEnumerable<string> texts, IReadOnlyCollection<ushort> portalGroups)
    {
        var result = new List<AluaSpec>();
        foreach (var text in texts)
        {
            var spec = Parse(text);
            if (!portalGroups.Contains(spec.Group))
                throw new UsageException($"--alua '{text}': no portal is in group {spec.Group} (the portal groups are {string.Join(", ", portalGroups.Order())}).");
            result.RemoveAll(s => s.Group == spec.Group);
            result.Add(spec);
        }
        return result;
    }
}
