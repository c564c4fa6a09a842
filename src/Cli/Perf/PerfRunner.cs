using System.Diagnostics;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Cli.Perf;

/// <summary>
/// Keeps <see cref="PerfWorkload.QueueDepth"/> commands in flight on one session: one worker per slot, each with its
/// own pinned buffer, CDB and latency histogram, so the steady state allocates nothing per command. Commands go to
/// <see cref="IscsiSession.ExecuteAsync(int, ReadOnlySpan{byte}, Memory{byte}, ReadOnlyMemory{byte}, CancellationToken, ScsiTaskAttribute)"/>
/// directly, without a cancellation token per command: Ctrl-C stops the workers after the command they are waiting for.
/// </summary>
internal sealed class PerfRunner
{
    private readonly IscsiSession _session;
    private readonly int _lun;
    private readonly PerfWorkload _workload;
    private readonly long _slots;        // transfer-sized slots in the region
    private readonly uint _blocksPerCommand;
    private readonly Worker[] _workers;
    private long _sequentialCursor = -1;
    private volatile bool _stop;

    /// <param name="blockCount">Blocks on the LUN.</param>
    /// <param name="blockSize">The LUN's logical block length.</param>
    public PerfRunner(IscsiSession session, int lun, long blockCount, int blockSize, PerfWorkload workload)
    {
        if (workload.TransferBytes % blockSize != 0)
            throw new ArgumentException($"The transfer size {workload.TransferBytes} bytes is not a whole number of the LUN's {blockSize}-byte blocks.");
        if (workload.QueueDepth < 1) throw new ArgumentException("The queue depth must be at least 1.");
        _session = session;
        _lun = lun;
        _workload = workload;
        _blocksPerCommand = (uint)(workload.TransferBytes / blockSize);
        long regionBlocks = workload.RegionBytes is { } limit ? Math.Min(blockCount, limit / blockSize) : blockCount;
        _slots = regionBlocks / _blocksPerCommand;
        if (_slots < 1)
            throw new ArgumentException($"The LUN (or --size region) of {regionBlocks} blocks is smaller than one {workload.TransferBytes}-byte transfer.");
        _workers = new Worker[workload.QueueDepth];
        for (int i = 0; i < _workers.Length; i++)
        {
            var worker = new Worker(workload.TransferBytes, seed: Environment.TickCount ^ (i * 7919));
            if (workload.Mode is not (PerfMode.Read or PerfMode.RandRead)) worker.Random.NextBytes(worker.Buffer);
            _workers[i] = worker;
        }
    }

    /// <summary>Commands completed so far, all workers (read once a second for the progress line).</summary>
    public long CompletedCommands
    {
        get
        {
            long total = 0;
            foreach (var w in _workers) total += Volatile.Read(ref w.Completed);
            return total;
        }
    }

    /// <summary>
    /// Runs for the workload's duration, or until <paramref name="ct"/> is cancelled: then it returns what was measured
    /// until then (Ctrl-C ends a run early, it does not lose it). <paramref name="progress"/> is called about once a
    /// second with (elapsed, IOPS and MB/s over the last interval).
    /// </summary>
    public async Task<PerfResult> RunAsync(Action<TimeSpan, double, double>? progress, CancellationToken ct)
    {
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
        int gen0Before = GC.CollectionCount(0);
        var cpuBefore = Environment.CpuUsage.TotalTime;
        long poolItemsBefore = ThreadPool.CompletedWorkItemCount;
        var clock = Stopwatch.StartNew();
        var tasks = new Task[_workers.Length];
        for (int i = 0; i < _workers.Length; i++)
        {
            var worker = _workers[i];
            tasks[i] = Task.Run(() => WorkerLoopAsync(worker));
        }
        using var stopOnCancel = ct.Register(() => _stop = true);
        var all = Task.WhenAll(tasks);
        long lastCommands = 0;
        var lastTime = TimeSpan.Zero;
        while (true)
        {
            var remaining = _workload.Duration - clock.Elapsed;
            if (remaining <= TimeSpan.Zero || _stop) break;
            var wait = remaining < TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1);
            if (await Task.WhenAny(all, Task.Delay(wait, CancellationToken.None)).ConfigureAwait(false) == all) break; // a worker failed
            var now = clock.Elapsed;
            long commands = CompletedCommands;
            double interval = (now - lastTime).TotalSeconds;
            if (progress is not null && interval > 0.2 && now < _workload.Duration)
                progress(now, (commands - lastCommands) / interval, (commands - lastCommands) * (double)_workload.TransferBytes / interval / 1e6);
            lastCommands = commands;
            lastTime = now;
        }
        _stop = true;
        await all.ConfigureAwait(false); // rethrows the first worker failure
        var elapsed = clock.Elapsed;
        var cpu = Environment.CpuUsage.TotalTime - cpuBefore;
        long poolItems = ThreadPool.CompletedWorkItemCount - poolItemsBefore;
        var histogram = new LatencyHistogram();
        long reads = 0, writes = 0;
        foreach (var w in _workers)
        {
            histogram.Add(w.Histogram);
            reads += w.Reads;
            writes += w.Writes;
        }
        long commandsDone = Math.Max(1, reads + writes);
        return new PerfResult(_workload, elapsed, reads, writes, histogram)
        {
            AllocatedBytesPerCommand = (GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore) / (double)commandsDone,
            Gen0Collections = GC.CollectionCount(0) - gen0Before,
            CpuTime = cpu,
            ThreadPoolWorkItemsPerCommand = poolItems / (double)commandsDone,
        };
    }

    private async Task WorkerLoopAsync(Worker w)
    {
        double nanosPerTick = 1e9 / Stopwatch.Frequency;
        while (!_stop)
        {
            long lba = NextLba(w);
            bool read = _workload.Mode switch
            {
                PerfMode.Read or PerfMode.RandRead => true,
                PerfMode.Write or PerfMode.RandWrite => false,
                _ => w.Random.Next(100) < _workload.ReadPercent,
            };
            int length = read ? CdbBuilder.Read(w.Cdb, (ulong)lba, _blocksPerCommand) : CdbBuilder.Write(w.Cdb, (ulong)lba, _blocksPerCommand);
            long start = Stopwatch.GetTimestamp();
            var response = await _session.ExecuteAsync(_lun, w.Cdb.AsSpan(0, length), read ? w.Memory : default, read ? default : w.Memory)
                .ConfigureAwait(false);
            long ticks = Stopwatch.GetTimestamp() - start;
            if (!response.IsGood)
            {
                // UNIT ATTENTION reports an event (e.g. the first command after login), not a failed transfer: not counted, sent again.
                if (response.Status == ScsiStatus.CheckCondition && response.Sense?.SenseKey == SenseKey.UnitAttention) continue;
                _stop = true;
                throw response.ToException($"{(read ? "READ" : "WRITE")} of {_blocksPerCommand} block(s) at LBA {lba}");
            }
            w.Histogram.Record((long)(ticks * nanosPerTick));
            if (read) w.Reads++;
            else w.Writes++;
            Volatile.Write(ref w.Completed, w.Completed + 1);
        }
    }

    private long NextLba(Worker w)
    {
        long slot = _workload.IsRandom
            ? w.Random.NextInt64(_slots)
            : Interlocked.Increment(ref _sequentialCursor) % _slots;
        return slot * _blocksPerCommand;
    }

    /// <summary>One slot of the queue: everything a command needs, allocated once.</summary>
    private sealed class Worker
    {
        public readonly byte[] Buffer;
        public readonly Memory<byte> Memory;
        public readonly byte[] Cdb = new byte[CdbBuilder.MaxCdbLength];
        public readonly Random Random;
        public readonly LatencyHistogram Histogram = new();
        public long Completed;
        public long Reads;
        public long Writes;

        public Worker(int transferBytes, int seed)
        {
            // Pinned: the transport may hand it to the kernel (or an RDMA NIC) without the GC moving it meanwhile.
            Buffer = GC.AllocateUninitializedArray<byte>(transferBytes, pinned: true);
            Memory = Buffer;
            Random = new Random(seed);
        }
    }
}
