using System.Diagnostics;

namespace Iser.Tests.Verbs;

/// <summary>Finds gcc, the rdma-core headers and the repository's native/probe directory.</summary>
internal static class NativeToolchain
{
    internal const string VerbsHeader = "/usr/include/infiniband/verbs.h";
    internal const string RdmaCmHeader = "/usr/include/rdma/rdma_cma.h";

    /// <summary>Why the probe cannot be built here, or null when it can.</summary>
    internal static string? MissingForProbe()
    {
        if (FindOnPath("gcc") is null)
        {
            return "gcc is not installed, so native/probe/verbs_probe.c cannot be built.";
        }

        if (!File.Exists(VerbsHeader) || !File.Exists(RdmaCmHeader))
        {
            return $"the rdma-core headers are missing ({VerbsHeader}, {RdmaCmHeader}; install libibverbs-dev and librdmacm-dev).";
        }

        return ProbeDirectory() is null ? "native/probe was not found above the test binaries." : null;
    }

    internal static string? FindOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    /// <summary>The repository's native/probe directory, found by walking up from the test binaries.</summary>
    internal static string? ProbeDirectory()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "native", "probe");
            if (File.Exists(Path.Combine(candidate, "verbs_probe.c")))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs a program, returns its stdout; throws with its stderr when it fails.</summary>
    internal static string Run(string file, params string[] args)
    {
        ProcessStartInfo start = new(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {stderr.Result}");
        }

        return stdout;
    }
}
