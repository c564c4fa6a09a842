using System.CommandLine;
using ScottPlot;
using SkiaSharp;

namespace Iser.Cli.Perf;

/// <summary>
/// `iser perf --plot FILE.svg|FILE.png`: one image with the latency percentiles (p50, p90, p99, p99.9) as bars per
/// transport, and each transport's IOPS over time (the per-second samples of the progress line), drawn by ScottPlot.
/// </summary>
internal static class PerfPlot
{
    private const int Width = 900;
    private const int Height = 800;

    /// <summary>One transport's run: its name (the legend), its figures and its samples.</summary>
    internal sealed record Series(string Transport, PerfResult Result, PerfTimeline Timeline);

    /// <summary>--plot, which takes only a name ending in .svg or .png (the format follows the name).</summary>
    public static Option<string> FileOption()
    {
        var option = new Option<string>("--plot")
        {
            Description = "Draw latency percentiles and IOPS over time per transport into FILE (.svg or .png).",
            HelpName = "FILE.svg|FILE.png",
        };
        option.Validators.Add(r =>
        {
            string? path = r.GetValueOrDefault<string>();
            if (path is not null && FormatOf(path) is null)
                r.AddError($"--plot writes .svg or .png (the name says which), not '{Path.GetFileName(path)}'.");
        });
        return option;
    }

    /// <summary>Writes the plot and says so on <paramref name="error"/>; a plot that cannot be written is an IOException in words.</summary>
    public static void Save(string path, PerfWorkload workload, IReadOnlyList<Series> runs, TextWriter error)
    {
        var format = FormatOf(path) ?? throw new UsageException($"--plot writes .svg or .png, not '{Path.GetFileName(path)}'.");
        if (runs.Count == 0)
        {
            error.WriteLine($"plot: no transport ran, so {path} was not written.");
            return;
        }
        try
        {
            var multiplot = Build(workload, runs);
            // ScottPlot draws a plot again when its first drawing moved the axes; one drawing thrown away first
            // keeps the SVG to one copy of each chart.
            using (var recorder = new SKPictureRecorder())
            {
                multiplot.Render(recorder.BeginRecording(new SKRect(0, 0, Width, Height)), new PixelRect(new PixelSize(Width, Height)));
                recorder.EndRecording().Dispose();
            }
            if (format == ".png")
            {
                multiplot.SavePng(path, Width, Height);
            }
            else
            {
                // ScottPlot's own SVG writer takes a single plot; the two go through Skia's SVG canvas together.
                using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
                using var stream = new SKManagedWStream(file);
                using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, Width, Height), stream))
                    multiplot.Render(canvas, new PixelRect(new PixelSize(Width, Height)));
            }
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            // ScottPlot draws both formats through SkiaSharp, whose native library ships in its NuGet package.
            throw new IOException($"cannot draw {path}: SkiaSharp's native library (libSkiaSharp) did not load on this machine ({Innermost(e).Message})", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or DirectoryNotFoundException)
        {
            throw new IOException($"cannot write {path}: {e.Message}", e);
        }
        error.WriteLine($"plot: {path} (latency percentiles and IOPS over time: {string.Join(", ", runs.Select(r => r.Transport))})");
    }

    internal static string? FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".svg" => ".svg",
        ".png" => ".png",
        _ => null,
    };

    private static Multiplot Build(PerfWorkload workload, IReadOnlyList<Series> runs)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        var palette = new ScottPlot.Palettes.Category10();
        string title = $"{PerfReport.Title(workload)}, {workload.Duration.TotalSeconds:0.###} s";

        var latency = multiplot.GetPlot(0);
        latency.Title($"Latency percentiles: {title}");
        latency.YLabel("latency (µs)");
        double width = 0.8 / runs.Count;
        for (int t = 0; t < runs.Count; t++)
        {
            var h = runs[t].Result.Latency;
            var bars = PerfReport.Percentiles.Select((p, i) => new Bar
            {
                Position = i + (t - (runs.Count - 1) / 2.0) * width,
                Value = h.Percentile(p) / 1000.0,
                Size = width * 0.9,
                FillColor = palette.GetColor(t),
            }).ToList();
            var plottable = latency.Add.Bars(bars);
            plottable.LegendText = runs[t].Transport;
        }
        latency.Axes.Bottom.SetTicks(
            Enumerable.Range(0, PerfReport.Percentiles.Length).Select(i => (double)i).ToArray(),
            PerfReport.Percentiles.Select(p => $"p{p:0.#}").ToArray());
        latency.Axes.Margins(bottom: 0);
        latency.ShowLegend(Alignment.UpperLeft);

        var iops = multiplot.GetPlot(1);
        iops.Title("IOPS over time");
        iops.XLabel("seconds");
        iops.YLabel("IOPS");
        for (int t = 0; t < runs.Count; t++)
        {
            var samples = runs[t].Timeline.Samples;
            var line = iops.Add.Scatter(samples.Select(s => s.Seconds).ToArray(), samples.Select(s => s.Iops).ToArray(), palette.GetColor(t));
            line.LegendText = runs[t].Transport;
        }
        // From zero, so a dip reads as the share of the rate it is.
        double top = runs.SelectMany(r => r.Timeline.Samples).Select(s => s.Iops).DefaultIfEmpty(1).Max();
        double end = runs.SelectMany(r => r.Timeline.Samples).Select(s => s.Seconds).DefaultIfEmpty(1).Max();
        iops.Axes.SetLimits(0, Math.Max(1, end) + 0.5, 0, Math.Max(1, top) * 1.1);
        iops.ShowLegend(Alignment.LowerRight);
        return multiplot;
    }

    private static Exception Innermost(Exception e) => e.InnerException is null ? e : Innermost(e.InnerException);
}
