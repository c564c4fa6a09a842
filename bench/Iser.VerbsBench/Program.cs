// Verbs micro-benchmark of the rdma-core binding, for the soft-RoCE lab (bench/lab/run-verbs-bench.sh).
//   Iser.VerbsBench send-lat  [--size 2]     [--iterations 5000] [--warmup 1000] [--signal-every 1] [--inline 0|1]
//   Iser.VerbsBench write-bw  [--size 65536] [--iterations 5000] [--depth 128]  [--signal-every 1]
//   Iser.VerbsBench serve-bw  [--size 65536] [--iterations 5000] [--depth 8]    (request SEND -> WRITE + response SEND)
//                             [--buffers 1] [--client-waits 0|1|2] [--copy 0|1]
//     --buffers N: WRITE from and into N blocks in turn; --client-waits: 0 the client busy-polls, 1 it sleeps on its
//     completion channel once its CQ is empty (as our initiator), 2 it sleeps until an event, re-arms at once and polls
//     the CQ empty (as libiscsi's iSER transport); --copy 1: the server copies each response's data from a 64 MiB store
//     first (as a RAM-backed logical unit reading into registered memory does).
// Defaults follow what perftest does on rxe (every WR signalled, no inline data).
// Address: LAB_RDMA_ADDR (default 169.254.10.1); listener and client share it, as with perftest there.
using System.Net;
using Iser.Transport.Iser.Verbs;
using Iser.VerbsBench;

if (args.Length == 0 || args[0] is not ("send-lat" or "write-bw" or "serve-bw"))
{
    Console.Error.WriteLine("usage: Iser.VerbsBench send-lat|write-bw|serve-bw [--size N] [--iterations N] [--warmup N] [--depth N] [--signal-every N] [--inline 0|1] [--buffers N] [--client-waits 0|1|2] [--copy 0|1]");
    return 2;
}

bool latency = args[0] == "send-lat", serve = args[0] == "serve-bw";
int size = Option("--size", latency ? 2 : 65536);
int iterations = Option("--iterations", 5000);
int warmup = Option("--warmup", 1000);
int depth = Option("--depth", serve ? 8 : 128);
int signalEvery = Math.Max(1, Option("--signal-every", 1));
bool inline = Option("--inline", 0) != 0;
if (!RdmaRuntime.IsSupported)
{
    Console.Error.WriteLine($"No RDMA here: {RdmaRuntime.NotSupportedReason}");
    return 1;
}

IPAddress address = IPAddress.Parse(Environment.GetEnvironmentVariable("LAB_RDMA_ADDR") ?? "169.254.10.1");
RdmaConnectionOptions options = new()
{
    Capacities = new QueuePairCapacities(
        MaxSendWorkRequests: latency ? 128 : serve ? 4 * depth + 8 : depth, MaxReceiveWorkRequests: latency ? 128 : serve ? depth + 4 : 1,
        MaxSendSge: 1, MaxReceiveSge: 1, MaxInlineData: inline ? 64 : 0),
    TimeoutMs = 30_000,
};

int buffers = Math.Max(1, Option("--buffers", 1));
using BenchConnection connection = BenchConnection.Open(address, options, size, blocks: buffers + 1);
return latency ? SendLatency.Run(connection, size, iterations, warmup, signalEvery, inline)
    : serve ? RequestResponseBandwidth.Run(connection, size, iterations, depth, buffers, (ClientWait)Math.Clamp(Option("--client-waits", 0), 0, 2), Option("--copy", 0) != 0)
    : WriteBandwidth.Run(connection, size, iterations, depth, signalEvery);

int Option(string name, int fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1]) : fallback;
}
