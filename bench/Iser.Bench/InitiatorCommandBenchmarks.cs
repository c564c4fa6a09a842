using BenchmarkDotNet.Attributes;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Bench;

/// <summary>
/// The initiator's per-command path without a network: <see cref="IscsiSession.ExecuteAsync(int, ReadOnlySpan{byte}, Memory{byte}, ReadOnlyMemory{byte}, CancellationToken, Core.Iscsi.Initiator.ScsiTaskAttribute)"/>
/// builds and registers the task, stamps and "sends" the command, and the answer is dispatched back into the session,
/// which finds the task and completes it (<see cref="AnsweringDatamover"/>): everything a command costs the initiator
/// except the transport's own work and the wait.
/// </summary>
[MemoryDiagnoser]
public class InitiatorCommandBenchmarks
{
    private IscsiSession _session = null!;
    private readonly byte[] _buffer = GC.AllocateArray<byte>(4096, pinned: true);
    private static readonly byte[] Read10 = [0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0];   // READ(10) LBA 8, 8 blocks
    private static readonly byte[] Write10 = [0x2a, 0, 0, 0, 0, 8, 0, 0, 8, 0];  // WRITE(10) LBA 8, 8 blocks

    [Params(false, true)]
    public bool Inline { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new IscsiSessionOptions
        {
            TargetName = "iqn.2026-12.org.iser.bench:memory",
            NopInterval = TimeSpan.Zero,
            CommandTimeout = null,
            Completions = new CompletionOptions { Inline = Inline },
        };
        _session = IscsiSession.ConnectAsync(options, new AnsweringTransport()).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _session.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Description = "4 KiB READ(10): submit, dispatch, complete")]
    public async ValueTask<int> ReadCommand() => (await _session.ExecuteAsync(0, Read10, _buffer, default)).TransferredLength;

    [Benchmark(Description = "4 KiB WRITE(10): submit, dispatch, complete")]
    public async ValueTask<int> WriteCommand() => (await _session.ExecuteAsync(0, Write10, default, _buffer)).TransferredLength;
}
