using System.Collections.Concurrent;
using System.Diagnostics;

namespace Iser.Tests.Verbs;

/// <summary>
/// The tests/Iser.LabPeer program run as a child process: its stdout lines are queued for
/// <see cref="WaitForLine"/>, its stderr kept for failure messages. Disposing kills it if still running.
/// </summary>
internal sealed class LabPeerProcess : IDisposable
{
    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = [];
    private readonly ConcurrentQueue<string> _errors = new();

    private LabPeerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.CompleteAdding();
            }
            else
            {
                _lines.Add(e.Data);
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _errors.Enqueue(e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string ErrorOutput => string.Join(Environment.NewLine, _errors);

    /// <summary>
    /// Iser.LabPeer.dll built beside this test assembly: tests/Iser.LabPeer/bin/CONFIG/TFM, found from
    /// tests/Iser.Tests/bin/CONFIG/TFM (the solution builds both).
    /// </summary>
    public static string PeerAssemblyPath
    {
        get
        {
            DirectoryInfo tfm = new(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            DirectoryInfo configuration = tfm.Parent!;
            DirectoryInfo testsRoot = configuration.Parent!.Parent!.Parent!;
            return Path.Combine(testsRoot.FullName, "Iser.LabPeer", "bin", configuration.Name, tfm.Name, "Iser.LabPeer.dll");
        }
    }

    public static LabPeerProcess Start(params string[] arguments)
    {
        string peer = PeerAssemblyPath;
        Assert.True(File.Exists(peer), $"The lab peer program {peer} is missing: build Iser.sln (it builds tests/Iser.LabPeer) in this configuration first.");

        // dotnet test exports the muxer's path; fall back to PATH.
        ProcessStartInfo start = new(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(peer);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new LabPeerProcess(Process.Start(start) ?? throw new InvalidOperationException("the lab peer process did not start"));
    }

    /// <summary>The next stdout line, which must start with <paramref name="prefix"/>; returns the rest of it.</summary>
    public string WaitForLine(string prefix, int timeoutMs = 60_000)
    {
        // The peer's start-up (runtime, JIT) is slow under TCG: allow for it.
        if (!_lines.TryTake(out string? line, timeoutMs))
        {
            Assert.Fail($"The lab peer printed no '{prefix}' line within {timeoutMs} ms (exited: {_process.HasExited}). Its stderr: {ErrorOutput}");
        }

        Assert.True(line!.StartsWith(prefix, StringComparison.Ordinal), $"The lab peer printed '{line}' where '{prefix}' was expected. Its stderr: {ErrorOutput}");
        return line[prefix.Length..].Trim();
    }

    /// <summary>SIGKILL: the process gets no chance to disconnect; the kernel tears its RDMA resources down.</summary>
    public void KillHard()
    {
        _process.Kill();
        Assert.True(_process.WaitForExit(30_000), "the killed lab peer did not exit within 30 s");
    }

    public int WaitForExitCode(int timeoutMs = 30_000)
    {
        Assert.True(_process.WaitForExit(timeoutMs), $"the lab peer did not exit within {timeoutMs} ms. Its stderr: {ErrorOutput}");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
        _lines.Dispose();
    }
}
