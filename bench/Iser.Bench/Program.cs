using BenchmarkDotNet.Running;

namespace Iser.Bench;

/// <summary>
/// Micro-benchmarks of the per-PDU hot paths (BenchmarkDotNet). Pick classes with <c>--filter</c>, e.g.
/// <c>dotnet run -c Release --project bench/Iser.Bench -- --filter '*Crc32C*' --job short</c>.
/// <c>-- retention</c> instead measures what ErrorRecoveryLevel 1 keeps in memory at the target (<see cref="RetentionProbe"/>);
/// <c>-- sessions</c> holds many sessions against a running target process (<see cref="SessionScaleProbe"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "retention") return RetentionProbe.RunAsync(args[1..]).GetAwaiter().GetResult();
        if (args.Length > 0 && args[0] == "sessions") return SessionScaleProbe.RunAsync(args[1..]).GetAwaiter().GetResult();
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
