namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// One thread for the whole process that looks at every <see cref="CompletionLane"/> for a continuation that blocked
/// (see <see cref="CompletionLane.CheckStall"/>). It runs only while some lane exists, and leaves with the last one.
/// A thread of its own rather than a <see cref="Timer"/>: a timer's callback takes a thread-pool worker 100 times a
/// second, and a worker that finishes spins a while for more work before it sleeps; measured in the soft-RoCE guest,
/// that made the default completion mode use the pool about once per command at depth 1.
/// </summary>
internal static class CompletionLaneWatchdog
{
    private const int PeriodMilliseconds = CompletionLane.StallLimitMilliseconds / 2;
    private static readonly Lock s_gate = new();
    private static readonly List<CompletionLane> s_lanes = [];
    private static CompletionLane[] s_snapshot = [];
    private static Thread? s_thread; // under s_gate: the running watchdog, null when none

    public static void Register(CompletionLane lane)
    {
        lock (s_gate)
        {
            s_lanes.Add(lane);
            s_snapshot = [.. s_lanes];
            if (s_thread is not null) return;
            s_thread = new Thread(Run) { IsBackground = true, Name = "Iser completion watchdog" };
            s_thread.Start();
        }
    }

    public static void Unregister(CompletionLane lane)
    {
        lock (s_gate)
        {
            if (!s_lanes.Remove(lane)) return;
            s_snapshot = [.. s_lanes];
        }
    }

    private static void Run()
    {
        while (true)
        {
            Thread.Sleep(PeriodMilliseconds);
            lock (s_gate)
            {
                if (s_lanes.Count == 0)
                {
                    s_thread = null; // a Register from now on starts another
                    return;
                }
            }
            long now = Environment.TickCount64;
            foreach (var lane in Volatile.Read(ref s_snapshot)) lane.CheckStall(now);
        }
    }
}
