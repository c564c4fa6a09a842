using System.CommandLine;
using Iser.Cli.Config;
using Iser.Cli.Target;
using Iser.Core.Iscsi.Login;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser target`: serves LUNs from flags or a JSON file, prints its IQNs and portals, then `ready`, and on
/// Ctrl-C / SIGTERM asks sessions to log out, flushes the LUNs and exits 0.
/// </summary>
internal static class TargetCommand
{
    public const string DefaultIqn = "iqn.2026-11.org.iser:target0";
    public const string DefaultPortal = TargetPlan.DefaultPortal;

    public static async Task<int> RunAsync(ParseResult args)
    {
        var configPath = args.GetValue<string>("--config");
        var config = configPath is null ? new TargetConfigFile() : TargetConfigFile.Load(configPath);
        var portals = args.GetValue<List<string>>("--portal") ?? [];
        if (portals.Count > 0) config.Portals = portals;
        var luns = args.GetValue<List<string>>("--lun") ?? [];
        var iqn = args.GetValue<string>("--iqn");
        if (luns.Count > 0 || iqn is not null || config.Targets.Count == 0)
        {
            var entry = new TargetConfigFile.TargetEntry { Iqn = iqn ?? DefaultIqn, Luns = luns.Count > 0 ? luns : ["ram:64M"] };
            entry.AllowedInitiators.AddRange(args.GetValue<List<string>>("--allow") ?? []);
            var chapUser = args.GetValue<string>("--chap-user");
            var chapSecret = args.GetValue<string>("--chap-secret");
            if (chapUser is not null || chapSecret is not null)
                entry.Chap = new() { User = chapUser ?? throw new UsageException("--chap-secret needs --chap-user."), Secret = chapSecret ?? throw new UsageException("--chap-user needs --chap-secret.") };
            var mutualUser = args.GetValue<string>("--mutual-user");
            var mutualSecret = args.GetValue<string>("--mutual-secret");
            if (mutualUser is not null || mutualSecret is not null)
                entry.MutualChap = new() { User = mutualUser ?? throw new UsageException("--mutual-secret needs --mutual-user."), Secret = mutualSecret ?? throw new UsageException("--mutual-user needs --mutual-secret.") };
            entry.ChapAlgorithms = args.GetValue<string>("--chap-algorithms");
            config.Targets.RemoveAll(t => t.Iqn == entry.Iqn);
            config.Targets.Add(entry);
        }
        config.QueueDepth = args.GetValue<int?>("--queue-depth") ?? config.QueueDepth;
        config.ErrorRecoveryLevel = args.GetValue<int?>("--error-recovery-level") ?? config.ErrorRecoveryLevel;
        config.MaxConnections = args.GetValue<int?>("--max-connections") ?? config.MaxConnections;
        config.NopInIntervalSeconds = args.GetValue<double?>("--nop-interval") ?? config.NopInIntervalSeconds;
        config.BlockSize = args.GetValue<int?>("--block-size") ?? config.BlockSize;
        var run = new TargetRunOptions
        {
            Config = config,
            ConfigPath = configPath,
            Alua = args.GetValue<List<string>>("--alua") ?? [],
            Iser = args.GetValue<bool>("--iser"),
            IserNopIntervalSeconds = args.GetValue<double?>("--iser-nop-interval"),
            Metrics = args.GetValue<string>("--metrics"),
            LogLevel = args.GetValue<string>("--log-level"),
            LogCategories = args.GetValue<string>("--log"),
        };
        // The run itself (the target on the Generic Host, until SIGINT/SIGTERM) is TargetHost's.
        return await TargetHost.RunAsync(run).ConfigureAwait(false);
    }

    /// <summary>A CHAP algorithm list from the command line or the config file, or a usage error saying what is wrong.</summary>
    public static IReadOnlyList<ChapAlgorithm> ParseChapAlgorithms(string text, string source)
    {
        try
        {
            return ChapAlgorithms.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"{source}: {e.Message}");
        }
    }
}
