using System.Reflection;

namespace Iser.Tests.Peers;

/// <summary>
/// Finds our CLI (src/Cli, assembly 'iser') built in the same configuration as this test assembly, and the
/// dotnet host to run it with.
/// </summary>
public static class IserCli
{
    /// <summary>Overrides the search with an explicit path to iser.dll.</summary>
    public const string PathVariable = "ISER_CLI_DLL";

    /// <summary>"Debug" or "Release": the configuration this test assembly was built in.</summary>
    public static string Configuration =>
        typeof(IserCli).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>The repository root (the directory holding Iser.sln) above the test output, or null.</summary>
    public static string? RepositoryRoot
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
                if (File.Exists(Path.Combine(directory.FullName, "Iser.sln")))
                    return directory.FullName;
            return null;
        }
    }

    /// <summary>Path of iser.dll: $ISER_CLI_DLL, else src/Cli/bin/CONFIGURATION/net10.0/iser.dll, else the copy beside the tests.</summary>
    public static string? FindDll()
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } explicitPath)
            return File.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : null;
        if (RepositoryRoot is { } root)
        {
            string built = Path.Combine(root, "src", "Cli", "bin", Configuration, "net10.0", "iser.dll");
            if (File.Exists(built))
                return built;
        }
        string beside = Path.Combine(AppContext.BaseDirectory, "iser.dll");
        return File.Exists(beside) ? beside : null;
    }

    public static string RequireDll() => FindDll() ?? throw new InvalidOperationException(
        $"iser.dll was not found (looked at ${PathVariable}, src/Cli/bin/{Configuration}/net10.0/ and {AppContext.BaseDirectory}); " +
        $"build the solution with `dotnet build Iser.sln -c {Configuration}` first.");

    /// <summary>The dotnet host running these tests (the SDK sets DOTNET_HOST_PATH), else 'dotnet' on PATH.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : PeerTools.Find("dotnet") ?? "dotnet";
}
