namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// One timer for the whole process that looks at every <see cref="CompletionLane"/> for a continuation that blocked
/// (see <see cref="CompletionLane.CheckStall"/>). It runs only while some lane exists.
/// </summary>
internal static class CompletionLaneWatchdog
{
    private const int PeriodMilliseconds = CompletionLane.StallLimitMilliseconds / 2;
    private static readonly Lock s_gate = new();
    private static readonly List<CompletionLane> s_lanes = [];
    private static CompletionLane[] s_snapshot = [];
    private static Timer? s_timer;

    public static void Register(CompletionLane lane)
    {
        lock (s_gate)
        {
            s_lanes.Add(lane);
            s_snapshot = [.. s_lanes];
            s_timer ??= new Timer(static _ => Check(), null, Timeout.Infinite, Timeout.Infinite);
            if (s_lanes.Count == 1) s_timer.Change(PeriodMilliseconds, PeriodMilliseconds);
        }
    }

    public static void Unregister(CompletionLane lane)
    {
        lock (s_gate)
        {
            if (!s_lanes.Remove(lane)) return;
            s_snapshot = [.. s_lanes];
            if (s_lanes.Count == 0) s_timer?.Change(Timeout.Infinite, Timeout.Infinite);
        }
    }

    private static void Check()
    {
        long now = Environment.TickCount64;
        foreach (var lane in Volatile.Read(ref s_snapshot)) lane.CheckStall(now);
    }
}
