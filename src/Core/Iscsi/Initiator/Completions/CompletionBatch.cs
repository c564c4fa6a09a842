using System.Diagnostics;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// Commands whose results wait to be published together (see <see cref="CompletionLane"/>). Filled by one thread under
/// the lane's lock, then only read: runners claim entries one at a time, so a second runner can take over the rest
/// while the first is stuck in a caller's continuation. The last runner to leave hands it back for reuse.
/// </summary>
internal sealed class CompletionBatch
{
    private InitiatorTask[] _tasks = new InitiatorTask[32];
    private ScsiResponse[] _responses = new ScsiResponse[32];
    private int _count;
    private int _next;    // the next entry to claim
    private int _runners; // runners inside; 0 once the last one left

    public int Count => _count;

    /// <summary>Under the lane's lock, before any runner entered.</summary>
    public void Add(InitiatorTask task, in ScsiResponse response)
    {
        Debug.Assert(Volatile.Read(ref _runners) == 0, "a batch being run must not grow");
        if (_count == _tasks.Length)
        {
            Array.Resize(ref _tasks, _count * 2);
            Array.Resize(ref _responses, _count * 2);
        }
        _tasks[_count] = task;
        _responses[_count] = response;
        _count++;
    }

    /// <summary>The first runner, when the lane takes the batch to run it.</summary>
    public void Enter() => Volatile.Write(ref _runners, 1);

    /// <summary>A rescuing runner: joins only while another is still inside (false once the batch was handed back).</summary>
    public bool TryEnter()
    {
        int runners = Volatile.Read(ref _runners);
        while (runners > 0)
        {
            int seen = Interlocked.CompareExchange(ref _runners, runners + 1, runners);
            if (seen == runners) return true;
            runners = seen;
        }
        return false;
    }

    public bool TryClaim(out InitiatorTask task, out ScsiResponse response)
    {
        int i = Interlocked.Increment(ref _next) - 1;
        if (i >= _count)
        {
            task = null!;
            response = default;
            return false;
        }
        task = _tasks[i];
        response = _responses[i];
        return true;
    }

    /// <summary>True for the last runner out, which then owns the batch and must <see cref="Clear"/> it.</summary>
    public bool Leave() => Interlocked.Decrement(ref _runners) == 0;

    public void Clear()
    {
        Array.Clear(_tasks, 0, _count);
        Array.Clear(_responses, 0, _count);
        _count = 0;
        _next = 0;
    }
}
