using Iser.Cli.Commands;

namespace Iser.Cli;

/// <summary>Dispatches `iser SUBCOMMAND ...` and turns failures into one readable line and an exit code.</summary>
internal static class CommandRouter
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage();
            return args.Length == 0 ? 2 : 0;
        }
        var rest = args[1..];
        try
        {
            return args[0] switch
            {
                "target" => await TargetCommand.RunAsync(new ArgumentReader(rest)).ConfigureAwait(false),
                _ => Unknown(args[0]),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"iser {args[0]}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or FormatException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"iser {args[0]}: {e.Message}");
            return 1;
        }
    }

    private static int Unknown(string name)
    {
        Console.Error.WriteLine($"iser: unknown command '{name}'.");
        PrintUsage();
        return 2;
    }

    private static void PrintUsage()
    {
        Console.Error.WriteLine("""
            usage: iser COMMAND [options]

              target     serve LUNs over iSCSI (TCP; iSER where an RDMA device exists)
                         --portal HOST:PORT (repeatable, default 127.0.0.1:3260)
                         --iqn IQN   --lun ram:SIZE|file:PATH[:SIZE][:direct]|null:SIZE (repeatable, LUN 0, 1, ...)
                         --block-size 512|4096   --allow INITIATOR-IQN (repeatable)
                         --chap-user U --chap-secret S   --mutual-user U --mutual-secret S
                         --nop-interval SECONDS (0 = off)   --queue-depth N   --config FILE.json
                         --iser (each portal also accepts iSER)   --iser-nop-interval SECONDS (default 5, 0 = off)
                         --log-level trace|debug|information|warning|error
            """);
    }
}

/// <summary>A command line given up for bad arguments; the message says which.</summary>
internal sealed class UsageException(string message) : Exception(message);
