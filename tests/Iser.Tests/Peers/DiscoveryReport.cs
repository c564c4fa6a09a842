using System.Globalization;
using System.Text.RegularExpressions;

namespace Iser.Tests.Peers;

/// <summary>A LUN as iscsi-ls -s shows it: number, peripheral type, and the size text (e.g. "63M") when it has one.</summary>
public sealed record ListedLun(int Lun, string Type, string? Size);

/// <summary>A target as iscsi-ls shows it.</summary>
public sealed record ListedTarget(string Iqn, string Portal, IReadOnlyList<ListedLun> Luns);

/// <summary>iscsi-ls output: "Target:IQN Portal:HOST:PORT,TPGT" lines, each followed by "Lun:N Type:T (Size:S)" lines.</summary>
public sealed partial record DiscoveryReport(ProcessResult Process, IReadOnlyList<ListedTarget> Targets)
{
    public bool Succeeded => Process.ExitCode == 0;

    public static DiscoveryReport Parse(ProcessResult process)
    {
        var targets = new List<(string Iqn, string Portal, List<ListedLun> Luns)>();
        foreach (string line in process.Stdout.Split('\n'))
        {
            if (TargetLine().Match(line) is { Success: true } target)
                targets.Add((target.Groups[1].Value, target.Groups[2].Value, new List<ListedLun>()));
            else if (LunLine().Match(line) is { Success: true } lun && targets.Count > 0)
                targets[^1].Luns.Add(new ListedLun(int.Parse(lun.Groups[1].Value, CultureInfo.InvariantCulture),
                    lun.Groups[2].Value, lun.Groups[3].Success ? lun.Groups[3].Value : null));
        }
        return new DiscoveryReport(process, targets.Select(t => new ListedTarget(t.Iqn, t.Portal, t.Luns)).ToArray());
    }

    [GeneratedRegex(@"^Target:(\S+) Portal:(\S+)")]
    private static partial Regex TargetLine();

    [GeneratedRegex(@"^\s*Lun:(\d+)\s+Type:(\S+)(?:\s+\(Size:([^)]+)\))?")]
    private static partial Regex LunLine();
}
