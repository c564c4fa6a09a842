using Iser.Cli.Config;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Commands;

/// <summary>
/// The targets and LUNs `iser target` serves, built from the configuration; a reload (SIGHUP) applies a changed
/// configuration file to the running target: LUNs added, removed or replaced (the others keep their state and
/// sessions), access lists and CHAP settings replaced, and sessions the new access list refuses ended. A file that
/// does not parse, or a LUN that cannot be opened, changes nothing.
/// </summary>
internal sealed class ConfiguredNodes(IscsiTarget target, int blockSize, ILoggerFactory loggerFactory)
{
    private readonly Dictionary<string, (TargetNode Node, Dictionary<int, string> Luns)> _nodes = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>At start: the target with its LUNs, each described on standard output.</summary>
    public void Add(TargetConfigFile.TargetEntry entry)
    {
        if (string.IsNullOrWhiteSpace(entry.Iqn)) throw new UsageException("every target needs an iqn.");
        var node = new TargetNode(entry.Iqn) { Alias = entry.Alias };
        ApplySecurity(node, entry);
        Console.WriteLine($"target {entry.Iqn}");
        var luns = new Dictionary<int, string>();
        for (int lun = 0; lun < entry.Luns.Count; lun++)
        {
            var unit = CreateUnit(node, lun, entry.Luns[lun]);
            node.AddLun(lun, unit);
            luns[lun] = entry.Luns[lun];
            Console.WriteLine($"  lun {lun}: {unit.Store.Describe()}, {unit.BlockCount} blocks of {unit.BlockSize} bytes");
        }
        target.AddNode(node);
        _nodes[entry.Iqn] = (node, luns);
    }

    /// <summary>Applies <paramref name="config"/> to the running target; returns what changed, one line per change.</summary>
    public async Task<IReadOnlyList<string>> ReloadAsync(TargetConfigFile config)
    {
        var changes = new List<string>();
        // Open every new or changed LUN first: if one cannot be opened, nothing changes.
        var opened = new List<(TargetNode Node, Dictionary<int, string> Luns, int Lun, string Spec, BlockDeviceLogicalUnit Unit)>();
        try
        {
            foreach (var entry in config.Targets)
            {
                if (!_nodes.TryGetValue(entry.Iqn, out var known)) continue;
                for (int lun = 0; lun < entry.Luns.Count; lun++)
                {
                    if (known.Luns.TryGetValue(lun, out var spec) && spec == entry.Luns[lun]) continue;
                    opened.Add((known.Node, known.Luns, lun, entry.Luns[lun], CreateUnit(known.Node, lun, entry.Luns[lun])));
                }
            }
        }
        catch
        {
            foreach (var o in opened) await o.Unit.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var retired = new List<ILogicalUnit>();
        foreach (var entry in config.Targets)
        {
            if (!_nodes.TryGetValue(entry.Iqn, out var known))
            {
                Add(entry);
                changes.Add($"target {entry.Iqn} added");
                continue;
            }
            var node = known.Node;
            foreach (var lun in known.Luns.Keys.ToList())
            {
                if (lun < entry.Luns.Count && entry.Luns[lun] == known.Luns[lun]) continue;
                if (node.RemoveLun(lun) is { } old) retired.Add(old);
                known.Luns.Remove(lun);
                if (lun >= entry.Luns.Count) changes.Add($"{node.Iqn} lun {lun} removed");
            }
            foreach (var o in opened.Where(o => ReferenceEquals(o.Node, node)))
            {
                node.AddLun(o.Lun, o.Unit);
                changes.Add($"{node.Iqn} lun {o.Lun}: {o.Spec}");
                known.Luns[o.Lun] = o.Spec;
            }
            bool aclChanged = !node.AllowedInitiators.ToHashSet(StringComparer.OrdinalIgnoreCase)
                .SetEquals(entry.AllowedInitiators);
            ApplySecurity(node, entry);
            if (aclChanged)
            {
                int ended = await target.CloseSessionsNotAllowedAsync(node).ConfigureAwait(false);
                changes.Add($"{node.Iqn} access list: {(entry.AllowedInitiators.Count == 0 ? "everyone" : string.Join(", ", entry.AllowedInitiators))}"
                    + (ended > 0 ? $" ({ended} session(s) no longer allowed ended)" : ""));
            }
        }
        foreach (var iqn in _nodes.Keys.Where(k => !config.Targets.Any(t => string.Equals(t.Iqn, k, StringComparison.OrdinalIgnoreCase))))
            changes.Add($"target {iqn} is no longer in the file; removing a target needs a restart, it stays");
        // A replaced LUN's commands still running hold it for a moment: close it once they are surely done.
        if (retired.Count > 0)
        {
            _ = Task.Run(async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                foreach (var unit in retired) await unit.DisposeAsync().ConfigureAwait(false);
            });
        }
        return changes;
    }

    private static void ApplySecurity(TargetNode node, TargetConfigFile.TargetEntry entry)
    {
        node.SetAllowedInitiators(entry.AllowedInitiators);
        node.InitiatorChap = entry.Chap is { } c ? new ChapCredentials(c.User, c.Secret) : null;
        node.TargetChap = entry.MutualChap is { } m ? new ChapCredentials(m.User, m.Secret) : null;
        node.ChapAlgorithms = entry.ChapAlgorithms is { } algorithms
            ? TargetCommand.ParseChapAlgorithms(algorithms, "--chap-algorithms (or chapAlgorithms)")
            : null;
    }

    private BlockDeviceLogicalUnit CreateUnit(TargetNode node, int lun, string spec)
    {
        try
        {
            return LunSpec.Open(spec, node, lun, blockSize, loggerFactory.CreateLogger("Iser.Target.Lun"));
        }
        catch (FormatException e)
        {
            throw new UsageException($"--lun {e.Message}");
        }
    }
}
