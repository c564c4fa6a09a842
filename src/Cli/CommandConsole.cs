namespace Iser.Cli;

/// <summary>
/// Where a command writes: its result on <see cref="Out"/>, progress and warnings on <see cref="Error"/>. Commands take
/// this instead of touching <see cref="Console"/> so tests can run them in parallel and read what they printed.
/// </summary>
internal sealed record CommandConsole(TextWriter Out, TextWriter Error)
{
    /// <summary>True when <see cref="Error"/> is a terminal, so a progress line may overwrite itself with '\r'.</summary>
    public bool ErrorIsTerminal { get; init; }

    public static CommandConsole System => new(Console.Out, Console.Error) { ErrorIsTerminal = !Console.IsErrorRedirected };
}
