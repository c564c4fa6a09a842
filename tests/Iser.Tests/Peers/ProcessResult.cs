namespace Iser.Tests.Peers;

/// <summary>What a finished command printed and returned.</summary>
/// <param name="Transcript">stdout and stderr interleaved in arrival order (stderr lines prefixed "! ").</param>
public sealed record ProcessResult(string CommandLine, int ExitCode, string Stdout, string Stderr, string Transcript, TimeSpan Duration)
{
    public override string ToString() =>
        $"`{CommandLine}` exited with {ExitCode} after {Duration.TotalSeconds:0.0} s:\n{Transcript}";
}
