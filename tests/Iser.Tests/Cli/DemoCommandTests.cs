namespace Iser.Tests.Cli;

public sealed class DemoCommandTests
{
    [Fact]
    public async Task Demo_verifies_every_byte_and_exits_0()
    {
        var run = await CliRun.RunAsync("demo", "--size", "6M", "--seconds", "1");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith("Transport: TCP (iSER not available: ", run.Out);
        var table = run.Out.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, table.Count(l => l.Contains("read back + compare") && l.TrimEnd().EndsWith("| ok    |", StringComparison.Ordinal)));
        Assert.Contains(table, l => l.Contains("perf randread, 32 in flight") && l.Contains("4 KiB"));
        Assert.Contains(table, l => l.Contains("perf read, 8 in flight") && l.Contains("128 KiB"));
        Assert.Contains("All 6 MiB read back equal to what was written.", run.Out);
    }

    [Fact]
    public async Task Demo_refuses_iser_with_the_reason()
    {
        var run = await CliRun.RunAsync("demo", "--transport", "iser", "--size", "3M");
        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("iser demo: iSER is not available: ", run.Error);
    }
}
