using Iser.Core.Diagnostics;
using Iser.Transport.Iser.Datamover;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Iser.Cli.Commands;

/// <summary>
/// `--metrics HOST:PORT`: the process's meters served for Prometheus at http://HOST:PORT/metrics (OpenTelemetry's
/// HttpListener exporter). Dispose to stop serving.
/// </summary>
internal static class MetricsEndpoint
{
    public static MeterProvider Start(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint[(colon + 1)..], out int port) || port is < 1 or > 65535)
            throw new UsageException($"--metrics wants HOST:PORT (e.g. 127.0.0.1:9464), not '{endpoint}'.");
        string host = endpoint[..colon].Trim('[', ']');
        var prefix = $"http://{(host.Contains(':') ? $"[{host}]" : host)}:{port}/";
        try
        {
            return Sdk.CreateMeterProviderBuilder()
                // System.Runtime: the runtime's own meter (GC heap and pauses, working set, thread pool), so memory per
                // session can be told apart from the process's other memory.
                .AddMeter(TargetMetrics.MeterName, InitiatorMetrics.MeterName, IserConnectionCounters.MeterName, "System.Runtime")
                .AddPrometheusHttpListener(o =>
                {
                    o.Host = host;
                    o.Port = port;
                })
                .Build();
        }
        catch (Exception e)
        {
            throw new UsageException($"--metrics: cannot serve {prefix}metrics: {e.Message}");
        }
    }
}
