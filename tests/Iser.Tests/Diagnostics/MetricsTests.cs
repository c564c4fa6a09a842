using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Iser.Core.Diagnostics;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.Initiator;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iser.Tests.Diagnostics;

[CollectionDefinition(nameof(MetricsCollection), DisableParallelization = true)]
public sealed class MetricsCollection;

/// <summary>
/// The instruments of the initiator (<c>Iser.Initiator</c>) and the target (<c>Iser.Target</c>), read with a
/// MeterListener while one session writes and reads through a real TCP connection. The class runs alone (no other
/// test's sessions in the counts); commands are told apart by a LUN number nobody else uses.
/// </summary>
[Collection(nameof(MetricsCollection))]
public sealed class MetricsTests
{
    private const int Lun = 77;

    [Fact]
    public async Task Commands_bytes_sessions_connections_and_logins_are_measured_on_both_sides()
    {
        using var recorder = new Recorder(InitiatorMetrics.MeterName, TargetMetrics.MeterName);
        await using var target = new IscsiTarget(new IscsiTargetOptions(), NullLoggerFactory.Instance);
        var node = new TargetNode(InProcessTarget.Iqn) { InitiatorChap = new ChapCredentials("alice", "alice-secret-123") };
        node.AddLun(Lun, new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { BlockSize = 512 }));
        target.AddNode(node);
        var listener = new TcpDatamoverListener(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), NullLogger.Instance);
        target.Listen(listener);
        var options = new IscsiSessionOptions { Host = "127.0.0.1", Port = listener.LocalEndPoint.Port, TargetName = InProcessTarget.Iqn };

        options.Chap = new ChapCredentials("alice", "wrong-secret-9999");
        await Assert.ThrowsAsync<IscsiLoginException>(() => IscsiSession.ConnectAsync(options, new TcpInitiatorTransport()));
        options.Chap = new ChapCredentials("alice", "alice-secret-123");
        await using (var session = await IscsiSession.ConnectAsync(options, new TcpInitiatorTransport()))
        {
            Assert.Equal(1, recorder.Sum("iser.initiator.sessions"));
            Assert.Equal(1, recorder.Sum("iser.target.sessions"));
            Assert.Equal(1, recorder.Sum("iser.target.connections"));
            var lun = await session.OpenLunAsync(Lun);
            var data = new byte[8192];
            Random.Shared.NextBytes(data);
            await lun.WriteAsync(0, data);
            await lun.WriteAsync(16, data);
            var back = new byte[8192];
            await lun.ReadAsync(0, back);
            Assert.Equal(data, back);
        }

        foreach (var side in new[] { "initiator", "target" })
        {
            Assert.Equal(2, recorder.Count($"iser.{side}.command.duration", ("scsi.operation", "write"), ("scsi.lun", Lun)));
            Assert.Equal(1, recorder.Count($"iser.{side}.command.duration", ("scsi.operation", "read"), ("scsi.lun", Lun)));
            Assert.True(recorder.Count($"iser.{side}.command.duration", ("scsi.operation", "other"), ("scsi.lun", Lun)) >= 1, "READ CAPACITY");
            Assert.All(recorder.Values($"iser.{side}.command.duration"), seconds => Assert.InRange(seconds, 0, 30));
            Assert.Equal(16384, recorder.Sum($"iser.{side}.io.bytes", ("iser.io.direction", "write")));
            Assert.True(recorder.Sum($"iser.{side}.io.bytes", ("iser.io.direction", "read")) >= 8192);
            Assert.Equal(0, recorder.Sum($"iser.{side}.commands.in_flight"));
        }
        Assert.Equal(0, recorder.Sum("iser.initiator.sessions")); // logged out
        Assert.True(SpinWait.SpinUntil(() => recorder.Sum("iser.target.sessions") == 0 && recorder.Sum("iser.target.connections") == 0,
            TimeSpan.FromSeconds(10)), "the target still counts the session or its connection after the logout");
        Assert.Equal(1, recorder.Sum("iser.target.logins", ("iser.login.result", "success")));
        Assert.Equal(1, recorder.Sum("iser.target.logins", ("iser.login.result", "initiator_error")));
    }

    /// <summary>Every measurement of the named meters, with its tags.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> _seen = new();

        public Recorder(params string[] meters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (meters.Contains(instrument.Meter.Name)) listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => _seen.Enqueue((i.Name, v, tags.ToArray())));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => _seen.Enqueue((i.Name, v, tags.ToArray())));
            _listener.Start();
        }

        private IEnumerable<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> Matching(string name, (string Key, object Value)[] tags) =>
            _seen.Where(m => m.Name == name && tags.All(t => m.Tags.Any(x => x.Key == t.Key && Equals(x.Value, t.Value))));

        public int Count(string name, params (string, object)[] tags) => Matching(name, tags).Count();
        public double Sum(string name, params (string, object)[] tags) => Matching(name, tags).Sum(m => m.Value);
        public IEnumerable<double> Values(string name) => _seen.Where(m => m.Name == name).Select(m => m.Value);

        public void Dispose() => _listener.Dispose();
    }
}
