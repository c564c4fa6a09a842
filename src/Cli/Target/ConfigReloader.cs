using Iser.Cli.Commands;
using Iser.Cli.Config;

namespace Iser.Cli.Target;

/// <summary>
/// SIGHUP: reads the config file again and applies it (LUNs, access lists, CHAP) without dropping the sessions that stay
/// allowed; one reload at a time, each said on standard output (what changed, or why nothing did) and told to systemd
/// (RELOADING=1, then READY=1).
/// </summary>
internal sealed class ConfigReloader(ConfiguredNodes nodes, string? configPath, SystemdNotify systemd)
{
    private readonly SemaphoreSlim _reloading = new(1, 1);

    public async Task ReloadAsync()
    {
        await _reloading.WaitAsync().ConfigureAwait(false);
        systemd.Reloading();
        try
        {
            if (configPath is null)
            {
                Console.WriteLine("reload: there is no --config file to read again; nothing changed");
                return;
            }
            TargetConfigFile fresh;
            try
            {
                fresh = TargetConfigFile.Load(configPath);
            }
            catch (Exception e)
            {
                Console.WriteLine($"reload failed: {configPath}: {e.Message}; nothing changed");
                return;
            }
            var changes = await nodes.ReloadAsync(fresh).ConfigureAwait(false);
            Console.WriteLine(changes.Count == 0 ? "reloaded: no change" : "reloaded: " + string.Join("; ", changes));
        }
        catch (Exception e)
        {
            // A LUN that cannot be opened, a bad setting: the running target stays as it was.
            Console.WriteLine($"reload failed: {e.Message}; nothing changed");
        }
        finally
        {
            systemd.Ready();
            _reloading.Release();
            Console.Out.Flush();
        }
    }
}
