using Iser.Cli.Config;
using Iser.Core.Iscsi.Target;
using Iser.Hosting;

namespace Iser.Cli.Target;

/// <summary>
/// <see cref="TargetRunOptions"/> checked and turned into what the target is built from, before anything opens: every
/// setting out of range is a usage error in words.
/// </summary>
internal sealed record TargetPlan(IReadOnlyList<PortalSpec> Portals, IReadOnlyList<AluaSpec> Alua, IscsiTargetOptions TargetOptions, int BlockSize, bool Iser)
{
    public const string DefaultPortal = "127.0.0.1:3260";

    public static TargetPlan From(TargetRunOptions run)
    {
        var config = run.Config;
        var portalTexts = config.Portals.Count > 0 ? config.Portals : [DefaultPortal];
        var portals = portalTexts.Select(ParsePortal).ToList();
        // The config file's states first, the command line's after them.
        var alua = AluaSpec.ParseAll(config.AluaSettings().Concat(run.Alua), portals.Select(p => p.PortalGroupTag).Distinct().ToList());

        var options = new IscsiTargetOptions();
        if (config.QueueDepth is int depth) options.CommandQueueDepth = depth;
        if (config.ErrorRecoveryLevel is int erl)
        {
            if (erl is < 0 or > IscsiTargetOptions.MaxSupportedErrorRecoveryLevel)
                throw new UsageException($"--error-recovery-level must be 0, 1 or 2, not {erl}.");
            options.ErrorRecoveryLevel = erl;
        }
        if (config.MaxConnections is int maxConnections)
        {
            if (maxConnections is < 1 or > 65535) throw new UsageException($"--max-connections must be 1 to 65535, not {maxConnections}.");
            options.MaxConnections = maxConnections;
        }
        if (config.NopInIntervalSeconds is double nop) options.NopInInterval = TimeSpan.FromSeconds(nop);
        if (run.IserNopIntervalSeconds is double iserNop) options.IserNopInInterval = TimeSpan.FromSeconds(iserNop);
        int blockSize = config.BlockSize ?? 512;
        if (blockSize is not (512 or 4096)) throw new UsageException($"--block-size must be 512 or 4096, not {blockSize}.");
        return new TargetPlan(portals, alua, options, blockSize, run.Iser || config.Iser == true);
    }

    private static PortalSpec ParsePortal(string text)
    {
        try
        {
            return PortalSpec.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"portal {e.Message}");
        }
    }
}
