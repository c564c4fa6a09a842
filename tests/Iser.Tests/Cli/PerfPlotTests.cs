using System.Buffers.Binary;
using System.Xml.Linq;

namespace Iser.Tests.Cli;

/// <summary>`iser perf --plot`: latency percentiles and IOPS over time, drawn from a real short run against our target.</summary>
public sealed class PerfPlotTests(CliTargetFixture target) : IClassFixture<CliTargetFixture>, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("iser-plot-").FullName;

    [Fact]
    public async Task Svg_plot_of_a_run_has_both_charts_and_the_transport_series()
    {
        string path = Path.Combine(_directory, "run.svg");
        var run = await CliRun.RunAsync("perf", target.Url, "-q", "4", "--duration", "2.5s", "--plot", path, "--quiet");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"plot: {path}", run.Error);
        var svg = XDocument.Load(path);
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        var texts = svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value.Trim()).ToList();
        Assert.Contains(texts, t => t.StartsWith("Latency percentiles", StringComparison.Ordinal));
        Assert.Contains("IOPS over time", texts);
        foreach (var tick in new[] { "p50", "p90", "p99", "p99.9" }) Assert.Contains(tick, texts);
        // The legend names the transport on both charts; iscsi:// runs over TCP.
        Assert.Equal(2, texts.Count(t => t == "tcp"));
    }

    [Fact]
    public async Task Compare_plots_a_series_per_transport_that_ran()
    {
        string path = Path.Combine(_directory, "compare.svg");
        var run = await CliRun.RunAsync("perf", target.Url, "-q", "2", "--duration", "2.5s", "--compare", "tcp,iser", "--plot", path, "--quiet");
        Assert.True(run.ExitCode == 0, run.ToString());
        var texts = XDocument.Load(path).Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value.Trim()).ToList();
        Assert.Equal(2, texts.Count(t => t == "tcp"));
        // iSER has a series where an RDMA device carried it (the lab); here its table row says why it did not run.
        bool iserRan = !run.Out.Contains("did not run: iSER is not available", StringComparison.Ordinal);
        Assert.Equal(iserRan ? 2 : 0, texts.Count(t => t == "iser"));
    }

    [Fact]
    public async Task Png_plot_is_a_png_of_the_stated_size()
    {
        string path = Path.Combine(_directory, "run.png");
        var run = await CliRun.RunAsync("perf", target.Url, "-q", "4", "--duration", "1.5s", "--plot", path, "--quiet");
        Assert.True(run.ExitCode == 0, run.ToString());
        var bytes = await File.ReadAllBytesAsync(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(900, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(800, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.True(bytes.Length > 10_000, $"{bytes.Length} bytes: too small to hold two charts");
    }

    [Fact]
    public async Task Unknown_plot_format_is_a_usage_error_before_the_run()
    {
        string path = Path.Combine(_directory, "run.jpg");
        var run = await CliRun.RunAsync("perf", target.Url, "--duration", "30s", "--plot", path);
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Equal("iser perf: --plot writes .svg or .png (the name says which), not 'run.jpg'. 'iser perf --help' lists the options.", run.Error.Trim());
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task A_plot_that_cannot_be_written_says_why_in_one_line()
    {
        string path = Path.Combine(_directory, "no-such-directory", "run.svg");
        var run = await CliRun.RunAsync("perf", target.Url, "-q", "2", "--duration", "1s", "--plot", path, "--quiet");
        Assert.True(run.ExitCode == 1, run.ToString());
        var line = Assert.Single(run.Error.Trim().Split('\n'));
        Assert.StartsWith($"iser perf: cannot write {path}: ", line);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
