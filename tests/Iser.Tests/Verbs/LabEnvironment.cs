using System.Net;
using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>What the soft-RoCE lab guest provides (native/lab/run.sh exports these), with its defaults.</summary>
internal static class LabEnvironment
{
    /// <summary>The rxe device's address; both ends of a connection use it (rdma_cm cannot route over 127.0.0.1).</summary>
    internal static IPAddress Address => IPAddress.Parse(Environment.GetEnvironmentVariable("LAB_RDMA_ADDR") ?? "169.254.10.1");

    /// <summary>The rxe device name, or null for "the first device".</summary>
    internal static string? DeviceName => Environment.GetEnvironmentVariable("LAB_RDMA_DEVICE");

    /// <summary>Polls <paramref name="cq"/> until <paramref name="count"/> completions arrived or the timeout passed.</summary>
    internal static List<IbvWc> WaitForCompletions(CompletionQueue cq, int count, int timeoutMs = 30_000)
    {
        List<IbvWc> completions = [];
        Span<IbvWc> batch = stackalloc IbvWc[16];
        long deadline = Environment.TickCount64 + timeoutMs;
        while (completions.Count < count)
        {
            int n = cq.Poll(batch);
            for (int i = 0; i < n; i++)
            {
                completions.Add(batch[i]);
            }

            if (n == 0)
            {
                Assert.True(Environment.TickCount64 < deadline, $"only {completions.Count} of {count} completions within {timeoutMs} ms");
                Thread.Sleep(1);
            }
        }

        return completions;
    }

    internal static byte[] Pattern(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
