using Iser.Cli;

namespace Iser.Tests.Cli;

/// <summary>One `iser ...` command line run in-process, with what it printed.</summary>
internal sealed record CliRun(int ExitCode, string Out, string Error)
{
    public static Task<CliRun> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(90), args);

    /// <summary>Runs the command and cancels it (as Ctrl-C does) after <paramref name="cancelAfter"/>.</summary>
    public static async Task<CliRun> RunAsync(TimeSpan cancelAfter, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        using var timeout = new CancellationTokenSource();
        if (cancelAfter <= TimeSpan.Zero) timeout.Cancel(); // Ctrl-C already pressed: deterministic, no timer race
        else timeout.CancelAfter(cancelAfter);
        int code = await CommandRouter.RunAsync(args, new CommandConsole(output, error), timeout.Token);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Error}";
}
