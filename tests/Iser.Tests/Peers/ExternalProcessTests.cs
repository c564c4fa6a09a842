using System.Diagnostics;

namespace Iser.Tests.Peers;

/// <summary>The process helper every peer test relies on: waits end, signals arrive, nothing outlives disposal.</summary>
public sealed class ExternalProcessTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task WaitForLine_returns_the_matching_line_from_stdout_or_stderr()
    {
        await using var process = ExternalProcess.Start("/bin/sh", new[] { "-c", "echo starting; echo oops >&2; echo ready; sleep 30" });
        Assert.Equal("ready", await process.WaitForLineAsync(l => l == "ready", Generous));
        Assert.Equal("oops", await process.WaitForLineAsync(l => l.StartsWith("oo", StringComparison.Ordinal), Generous));
        Assert.Contains("! oops", process.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitForLine_times_out_instead_of_hanging()
    {
        await using var process = ExternalProcess.Start("/bin/sh", new[] { "-c", "echo busy; sleep 30" });
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<TimeoutException>(() => process.WaitForLineAsync(l => l == "ready", TimeSpan.FromMilliseconds(300)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Contains("busy", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitForLine_fails_at_once_when_the_process_exits_without_the_line()
    {
        await using var process = ExternalProcess.Start("/bin/sh", new[] { "-c", "echo bye; exit 3" });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => process.WaitForLineAsync(l => l == "ready", Generous));
        Assert.Contains("exited with code 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_reaches_the_process_and_its_handler_decides_the_exit_code()
    {
        await using var process = ExternalProcess.Start("/bin/bash",
            new[] { "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done" });
        await process.WaitForLineAsync(l => l == "ready", Generous);
        process.Signal(ExternalProcess.SigTerm);
        Assert.Equal(0, await process.WaitForExitAsync(Generous));
        Assert.Contains("got-term", process.StdoutLines);
    }

    [Fact]
    public async Task WaitForExit_kills_a_process_that_overruns()
    {
        await using var process = ExternalProcess.Start("/bin/sh", new[] { "-c", "sleep 30" });
        await Assert.ThrowsAsync<TimeoutException>(() => process.WaitForExitAsync(TimeSpan.FromMilliseconds(300)));
        Assert.True(process.HasExited);
    }

    [Fact]
    public async Task Dispose_kills_the_whole_tree()
    {
        int grandchild;
        await using (var process = ExternalProcess.Start("/bin/sh", new[] { "-c", "sleep 60 & echo $!; wait" }))
        {
            grandchild = int.Parse(await process.WaitForLineAsync(l => l.Length > 0, Generous));
        }
        var deadline = DateTime.UtcNow + Generous;
        while (Directory.Exists($"/proc/{grandchild}") && !IsZombie(grandchild) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.True(!Directory.Exists($"/proc/{grandchild}") || IsZombie(grandchild), $"Process {grandchild} outlived disposal.");
    }

    [Fact]
    public async Task RunAsync_returns_exit_code_and_separate_streams()
    {
        var result = await ExternalProcess.RunAsync("/bin/sh", new[] { "-c", "echo out; echo err >&2; exit 7" }, Generous);
        Assert.Equal(7, result.ExitCode);
        Assert.Equal("out", result.Stdout);
        Assert.Equal("err", result.Stderr);
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
