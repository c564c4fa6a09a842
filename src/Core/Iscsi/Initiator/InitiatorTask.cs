using System.Threading.Tasks.Sources;
using Iser.Core.Datamover;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>
/// One SCSI command at the initiator: what the datamover tracks (<see cref="DataTask"/>), the caller's buffers, and
/// the awaitable the caller waits on. Pooled per session; completes exactly once (response, failure or abort).
/// </summary>
internal sealed class InitiatorTask : DataTask, IValueTaskSource<ScsiResponse>
{
    private ManualResetValueTaskSourceCore<ScsiResponse> _core = new() { RunContinuationsAsynchronously = true };
    private int _completed;

    public readonly byte[] Cdb = new byte[16];
    public int CdbLength;
    public ScsiTaskAttribute Attribute;
    public Memory<byte> ReadBuffer;
    public ReadOnlyMemory<byte> WriteBuffer;

    /// <summary>The connection the command was last handed to (null until sent); guarded by the session's task lock.</summary>
    public InitiatorConnection? Connection;
    /// <summary>
    /// The connection whose writer numbered the command (gave it its CmdSN); null until then. A command never numbered
    /// left no gap in the CmdSN sequence: it is simply sent again elsewhere, never reassigned or retried.
    /// </summary>
    public volatile InitiatorConnection? StampedOn;
    public long SentTicks;
    /// <summary>Set once an abort (cancellation or timeout) is under way, so it starts only once.</summary>
    public int Aborting;
    /// <summary>A data digest error in this command's Data-In: the data cannot be trusted whatever the status says.</summary>
    public Exception? DataError;
    /// <summary>Changes every time the task is reused, so a late abort or re-issue cannot touch the next command.</summary>
    public int Generation;
    /// <summary>ERL 1: times the command was sent again as a retry.</summary>
    public int Retries;
    public long RetriedTicks;
    /// <summary>ERL 1: the status arrived while read data was still missing; published once the data is whole.</summary>
    public bool HoldsStatus;
    public ScsiResponse HeldStatus;
    public uint HeldStatSN;
    /// <summary>The connection that holds its acknowledgement back while the status waits.</summary>
    public InitiatorConnection? HeldOn;
    /// <summary>ERL 1: Data-In PDUs the status says were sent (ExpDataSN); the status waits until that many arrived.</summary>
    public uint ExpectedDataSN;
    public IscsiSession? Session;

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;
    public ValueTask<ScsiResponse> AsValueTask() => new(this, _core.Version);

    /// <summary>
    /// Claims the one completion of this command; the winner must then call <see cref="Publish"/> or
    /// <see cref="PublishFailure"/>. Claiming under the session's lock and publishing after it is released keeps an
    /// inline continuation (which may issue the next command) out of that lock, while the task cannot be reset and
    /// reused in between: reuse waits for the result the claim holds back.
    /// </summary>
    public bool TryClaim() => Interlocked.Exchange(ref _completed, 1) == 0;

    /// <summary>Hands the result to the waiter: inline on this thread or queued to the thread pool, per the task's mode.</summary>
    public void Publish(in ScsiResponse response) => _core.SetResult(response);

    public void PublishFailure(Exception error) => _core.SetException(error);

    /// <summary>True when the caller's continuation belongs on the thread pool (the default mode), not on the completion thread.</summary>
    public bool PublishesOnThreadPool => _core.RunContinuationsAsynchronously;

    /// <summary>Hands the result to the waiter with its continuation run on this thread: a completion lane's drainer, already on the pool.</summary>
    public void PublishHere(in ScsiResponse response)
    {
        _core.RunContinuationsAsynchronously = false;
        _core.SetResult(response);
    }

    /// <summary>
    /// Fails the command. Callers may hold the session's lock: with inline continuations the failure is published from
    /// the thread pool, so the caller's code never runs under that lock (failures are rare; the hop costs nothing).
    /// </summary>
    public bool TryFail(Exception error)
    {
        if (!TryClaim()) return false;
        DropHeldStatus();
        if (_core.RunContinuationsAsynchronously) _core.SetException(error);
        else ThreadPool.UnsafeQueueUserWorkItem(static s => s.task.PublishFailure(s.error), (task: this, error), preferLocal: false);
        return true;
    }

    /// <summary>A status held for missing data will not be published: its acknowledgement is no longer held back.</summary>
    public void DropHeldStatus()
    {
        HoldsStatus = false;
        HeldOn?.ReleaseStatus(HeldStatSN);
        HeldOn = null;
    }

    public void Prepare(ReadOnlySpan<byte> cdb, ulong lunField, Memory<byte> dataIn, ReadOnlyMemory<byte> dataOut, ScsiTaskAttribute attribute,
        bool inlineContinuation)
    {
        _core.RunContinuationsAsynchronously = !inlineContinuation;
        cdb.CopyTo(Cdb);
        Cdb.AsSpan(cdb.Length).Clear();
        CdbLength = cdb.Length;
        Attribute = attribute;
        ReadBuffer = dataIn;
        WriteBuffer = dataOut;
        Lun = lunField;
        IsRead = !dataIn.IsEmpty;
        IsWrite = !dataOut.IsEmpty;
        ExpectedDataTransferLength = IsRead ? dataIn.Length : dataOut.Length;
    }

    public override void ResetForReuse()
    {
        base.ResetForReuse();
        _core.Reset();
        _completed = 0;
        ReadBuffer = default;
        WriteBuffer = default;
        Connection = null;
        StampedOn = null;
        SentTicks = 0;
        Aborting = 0;
        DataError = null;
        Retries = 0;
        RetriedTicks = 0;
        HoldsStatus = false;
        HeldStatus = default;
        HeldStatSN = 0;
        HeldOn = null;
        ExpectedDataSN = 0;
        CdbLength = 0;
        Generation++;
    }

    ScsiResponse IValueTaskSource<ScsiResponse>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<ScsiResponse>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<ScsiResponse>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
