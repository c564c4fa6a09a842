using System.CommandLine;
using System.CommandLine.Invocation;
using Iser.Cli.CommandLine;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;

namespace Iser.Cli;

/// <summary>
/// Runs `iser SUBCOMMAND ...` through System.CommandLine and turns failures into one readable line and an exit code:
/// 2 for a usage error, 130 after Ctrl-C, 1 for a failure, or the command's own.
/// </summary>
internal static class CommandRouter
{
    /// <summary>Exit code for a command stopped by Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int CancelledExitCode = 130;

    public const int UsageExitCode = 2;

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
        var root = IserCommandLine.Create(console);
        if (args.Length == 0)
        {
            await root.Parse(["--help"]).InvokeAsync(Invocation(console.Error, console.Error), ct).ConfigureAwait(false);
            return UsageExitCode;
        }
        if (args[0] == "help") args = [.. args[1..], "--help"];
        var parse = root.Parse(args);
        string name = CommandName(parse);
        if (parse.Action is ParseErrorAction)
        {
            if (parse.CommandResult.Command == root && !args[0].StartsWith('-') && !args[0].StartsWith('['))
            {
                console.Error.WriteLine($"iser: unknown command '{args[0]}'. 'iser --help' lists the commands.");
                return UsageExitCode;
            }
            console.Error.WriteLine($"{name}: {Sentence(parse.Errors[0].Message)} '{name} --help' lists the options.");
            return UsageExitCode;
        }
        try
        {
            return await parse.InvokeAsync(Invocation(console.Out, console.Error), ct).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            console.Error.WriteLine($"{name}: {e.Message}");
            return UsageExitCode;
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // After Ctrl-C, whatever the interrupted step threw (a cancelled connect, a session torn down mid-login)
            // is the cancellation itself, and the user hears it as that.
            console.Error.WriteLine($"{name}: cancelled.");
            return CancelledExitCode;
        }
        catch (Exception e) when (e is IscsiException or ScsiCommandException or ScsiDataFormatException or IOException
                                      or InvalidOperationException or ArgumentException or FormatException or UnauthorizedAccessException
                                      or OperationCanceledException)
        {
            console.Error.WriteLine($"{name}: {Sentence(e.Message)}");
            return 1;
        }
    }

    /// <summary>
    /// Ctrl-C and SIGTERM stay ours (<see cref="RunAsync(string[])"/>, and `iser target`'s own), so System.CommandLine
    /// installs no handler; exceptions reach the catch clauses above rather than its default report.
    /// </summary>
    private static InvocationConfiguration Invocation(TextWriter output, TextWriter error) => new()
    {
        Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
    };

    /// <summary>"iser perf", "iser session show": how the user called the command, to start its error line with.</summary>
    private static string CommandName(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        names[0] = "iser"; // the root's name is the executable's file name, which differs under `dotnet iser.dll`
        return string.Join(' ', names);
    }

    private static string Sentence(string message)
    {
        message = message.Trim();
        return message.Length == 0 || message.EndsWith('.') || message.EndsWith('?') || message.EndsWith('!') ? message : message + ".";
    }
}
