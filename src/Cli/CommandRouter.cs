using Iser.Cli.Client;
using Iser.Cli.Commands;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;

namespace Iser.Cli;

/// <summary>Dispatches `iser SUBCOMMAND ...` and turns failures into one readable line and an exit code.</summary>
internal static class CommandRouter
{
    /// <summary>Exit code for a command stopped by Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int CancelledExitCode = 130;

    public static async Task<int> RunAsync(string[] args)
    {
        // `iser target` handles SIGINT/SIGTERM itself (it logs sessions out on the way down).
        if (args.Length > 0 && args[0] == "target") return await RunAsync(args, CommandConsole.System, CancellationToken.None).ConfigureAwait(false);
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // a second Ctrl-C still kills: the handler is removed once cancellation began
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return await RunAsync(args, CommandConsole.System, cancel.Token).ConfigureAwait(false);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    public static async Task<int> RunAsync(string[] args, CommandConsole console, CancellationToken ct)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage(console.Error);
            return args.Length == 0 ? 2 : 0;
        }
        var rest = new ArgumentReader(args[1..]);
        try
        {
            return args[0] switch
            {
                "target" => await TargetCommand.RunAsync(rest).ConfigureAwait(false),
                "discover" => await DiscoverCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                "ls" => await ListCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                "inq" => await InquiryCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                "read" => await ReadCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                "write" => await WriteCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                "session" => await SessionShowCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                "perf" => await PerfCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                "demo" => await DemoCommand.RunAsync(rest, console, ct).ConfigureAwait(false),
                _ => Unknown(args[0], console.Error),
            };
        }
        catch (UsageException e)
        {
            console.Error.WriteLine($"iser {args[0]}: {e.Message}");
            return 2;
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // After Ctrl-C, whatever the interrupted step threw (a cancelled connect, a session torn down mid-login)
            // is the cancellation itself, and the user hears it as that.
            console.Error.WriteLine($"iser {args[0]}: cancelled.");
            return CancelledExitCode;
        }
        catch (Exception e) when (e is IscsiException or ScsiCommandException or ScsiDataFormatException or IOException
                                      or InvalidOperationException or ArgumentException or FormatException or UnauthorizedAccessException
                                      or OperationCanceledException)
        {
            console.Error.WriteLine($"iser {args[0]}: {Sentence(e.Message)}");
            return 1;
        }
    }

    private static string Sentence(string message)
    {
        message = message.Trim();
        return message.Length == 0 || message.EndsWith('.') || message.EndsWith('?') || message.EndsWith('!') ? message : message + ".";
    }

    private static int Unknown(string name, TextWriter error)
    {
        error.WriteLine($"iser: unknown command '{name}'.");
        PrintUsage(error);
        return 2;
    }

    private static void PrintUsage(TextWriter error)
    {
        error.WriteLine("""
            usage: iser COMMAND [options]

              demo       start a target in this process, write, read back, verify and measure it; prints a table
                         --transport auto|tcp|iser   --size 64M   --seconds 3
              target     serve LUNs over iSCSI (TCP; iSER where an RDMA device exists)
                         --portal HOST:PORT[,TPGT] (repeatable, default 127.0.0.1:3260; TPGT = portal group, default 1)
                         --alua GROUP=STATE (repeatable; STATE active-optimized|active-non-optimized|standby|
                                unavailable|transitioning; every group starts active-optimized)
                         --iqn IQN   --lun ram:SIZE|file:PATH[:SIZE][:direct]|null:SIZE[,ro][,removable][,sanitize-time=SECONDS]
                                (repeatable, LUN 0, 1, ...)
                         --block-size 512|4096   --allow INITIATOR-IQN (repeatable)
                         --chap-user U --chap-secret S   --mutual-user U --mutual-secret S
                         --chap-algorithms sha256,sha3-256,sha1,md5 (accepted; leave md5 out to refuse it)
                         --metrics HOST:PORT (Prometheus text at http://HOST:PORT/metrics)
                         --nop-interval SECONDS (0 = off)   --queue-depth N   --config FILE.json
                         --error-recovery-level 0|1|2 (highest offered, default 2)
                         --max-connections N (connections per session offered, default 8)
                         --iser (each portal also accepts iSER)   --iser-nop-interval SECONDS (default 5, 0 = off)
                         --log-level trace|debug|information|warning|error
                         --log CATEGORY=LEVEL,... (e.g. Iser.Target.Login=debug,Iser.Initiator.Pdu=trace)
              discover PORTAL            targets and portals a portal offers (SendTargets)
              ls PORTAL                  targets, LUNs, device types and sizes
              inq URL                    standard INQUIRY and VPD pages 0x80, 0x83, 0xB0, decoded
              read URL --lba N --count N [-o FILE]     blocks to FILE, or a hex dump on stdout
              write URL --lba N -i FILE [--pad]        FILE to the LUN (whole blocks; --pad fills the last with zeros)
              session show URL           log in and show each key: requested vs negotiated, who proposed it, timeouts
              perf URL   [--mode randread|randwrite|read|write|randrw] [--mix 70] [--block-size 4k]
                         [--queue-depth 32] [--duration 10s] [--ramp 0s] [--size LIMIT] [--json] [--quiet]
                         [--allocations] (which types the process allocates during the run, sampled)
                         [--compare tcp,iser] (the same load over each transport, one side-by-side table)

              PORTAL is HOST[:PORT]; URL is iscsi://[USER%SECRET@]HOST[:PORT]/IQN/LUN (iser:// for iSER).
              Options of the client commands:
            """ + "\n" + ClientOptions.Usage);
    }
}

/// <summary>A command line given up for bad arguments; the message says which.</summary>
internal sealed class UsageException(string message) : Exception(message);
