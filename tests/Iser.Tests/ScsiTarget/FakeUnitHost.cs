using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Tests.ScsiTarget;

/// <summary>
/// A "target" around logical units without a wire: its ALUA states, and tasks that are "running" per nexus until a
/// PREEMPT AND ABORT aborts them (each an unfinished <see cref="TaskCompletionSource"/> the abort cancels).
/// </summary>
internal sealed class FakeUnitHost : ILogicalUnitHost
{
    private readonly List<(ItNexus Nexus, TaskCompletionSource Task)> _running = [];

    public FakeUnitHost(params ushort[] groups)
    {
        foreach (var g in groups) AccessStates.AddGroup(g);
    }

    public AsymmetricAccessStates AccessStates { get; } = new();

    /// <summary>A task of <paramref name="nexus"/> in progress on the unit: completes (cancelled) when aborted.</summary>
    public Task StartTask(ItNexus nexus)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_running) _running.Add((nexus, tcs));
        return tcs.Task;
    }

    public ValueTask<int> AbortTasksAsync(ILogicalUnit unit, Func<ItNexus, bool> whose)
    {
        int aborted = 0;
        lock (_running)
            foreach (var (nexus, task) in _running.ToArray())
                if (whose(nexus))
                {
                    task.TrySetCanceled();
                    _running.Remove((nexus, task));
                    aborted++;
                }
        return ValueTask.FromResult(aborted);
    }
}
