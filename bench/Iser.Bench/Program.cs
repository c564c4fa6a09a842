using BenchmarkDotNet.Running;

namespace Iser.Bench;

/// <summary>
/// Micro-benchmarks of the per-PDU hot paths (BenchmarkDotNet). Pick classes with <c>--filter</c>, e.g.
/// <c>dotnet run -c Release --project bench/Iser.Bench -- --filter '*Crc32C*' --job short</c>.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
