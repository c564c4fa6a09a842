using Iser.Core.Datamover;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>The steps of a connection's teardown that only the connection can take; unit tests play them with a fake.</summary>
internal interface IConnectionLifetimeOwner
{
    /// <summary>The first failure: the reader hears it, the role fails its waiting tasks.</summary>
    void OnFailed(Exception error);

    /// <summary>
    /// Stop posting and disconnect: the receive ring and send queue close (the staged PDUs go out first when
    /// <paramref name="postStaged"/>), the QP goes to the error state (everything posted flushes), the reader sees the end.
    /// </summary>
    void Disconnect(bool postStaged);

    /// <summary>Frees the QP, CQ and registered memory and stops the connection's threads.</summary>
    void FreeResources(string reason);

    /// <summary>Work requests posted and never completed (read once the CQ is no longer polled).</summary>
    int UncompletedWorkRequests { get; }
}

/// <summary>
/// A connection's life from open to freed: its failure (the first one wins), its close (once, for a reason), and the
/// references that keep its verbs resources alive (<see cref="ConnectionReferences"/>: one for the open connection,
/// one per posted work request). Closing disconnects at once; the resources go with the last completion, or after
/// the drain timeout with a warning, when the work requests that never completed are written off the counters.
/// </summary>
internal sealed class ConnectionLifetime
{
    private volatile IConnectionLifetimeOwner? _owner;
    private readonly ILogger _logger;
    private readonly string _remote;
    private readonly TimeSpan _drainTimeout;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Exception? _failure;
    private volatile bool _terminating;
    private volatile bool _peerDisconnected;
    private int _terminateStarted;
    private int _watchdogStarted;
    private int _freed;
    private string _terminateReason = "";

    /// <summary>The steps come later (<see cref="Attach"/>): the parts they stop are built with this lifetime's references.</summary>
    public ConnectionLifetime(string remoteEndPoint, ILogger logger, TimeSpan drainTimeout)
    {
        _remote = remoteEndPoint;
        _logger = logger;
        _drainTimeout = drainTimeout;
        References = new ConnectionReferences(() => ThreadPool.UnsafeQueueUserWorkItem(static l => l.Free(forced: false), this, preferLocal: false));
    }

    public ConnectionReferences References { get; }

    /// <summary>The teardown's steps, once the parts exist. A failure before (the CQ poller starts first) is acted on now.</summary>
    public void Attach(IConnectionLifetimeOwner owner)
    {
        _owner = owner;
        if (_failure is { } early)
        {
            owner.OnFailed(early);
            BeginTerminate(early.Message);
        }
    }

    /// <summary>Why the connection failed, if it did.</summary>
    public Exception? Failure => _failure;

    /// <summary>Teardown has started (a close of our own, the peer's disconnect, or a failure).</summary>
    public bool Terminating => _terminating;

    /// <summary>A connection that is failing or closing lends no buffers and stages no work.</summary>
    public bool IsClosing => _terminating || _failure is not null;

    /// <summary>Completes when the QP, CQ and registered memory have been freed.</summary>
    public Task Released => _released.Task;

    public string TerminateReason => _terminateReason;

    /// <summary>The connection cannot go on: the reader gets the reason, the QP is disconnected (outstanding work flushes).</summary>
    public void Fail(Exception error)
    {
        if (Interlocked.CompareExchange(ref _failure, error, null) is null)
        {
            if (!_terminating) _logger.LogWarning("iSER connection {Remote} failed: {Reason}", _remote, error.Message);
            if (_owner is not { } owner) return; // not attached yet: Attach acts on it
            owner.OnFailed(error);
        }
        BeginTerminate(error.Message);
    }

    /// <summary>rdma_cm said DISCONNECTED: the peer's close unless we started one (our own disconnect raises it too).</summary>
    public void PeerDisconnected()
    {
        if (!_terminating) _peerDisconnected = true;
        BeginTerminate("the peer disconnected");
    }

    /// <summary>Closes once: stops posting, disconnects, drops the connection's own reference.</summary>
    public void BeginTerminate(string reason)
    {
        if (_owner is not { } owner || Interlocked.Exchange(ref _terminateStarted, 1) != 0) return;
        _terminateReason = reason; // before the volatile flag: a reader that sees the flag sees the reason
        _terminating = true;
        // A close of our own (after a Logout Response, a login refusal) may come before the completion batch that
        // staged the last PDU ends: that PDU goes out first. After a failure the queue pair is in error anyway.
        owner.Disconnect(postStaged: _failure is null);
        References.Close();
    }

    /// <summary>
    /// Connection_Terminate: disconnects at once and returns; should the provider never flush, the resources are
    /// freed after the drain timeout with a warning.
    /// </summary>
    public void Terminate(string reason)
    {
        BeginTerminate(reason);
        if (!_released.Task.IsCompleted && Interlocked.Exchange(ref _watchdogStarted, 1) == 0) _ = FreeWhenStuckAsync();
    }

    /// <summary>Why no PDU follows: null for a clean close by the peer.</summary>
    public DatamoverException? EndOfStreamError()
    {
        if (_failure is { } f) return f as DatamoverException ?? new DatamoverException(f.Message, f);
        // Closed on this side rather than by the peer: say why, or the reader would report that the peer closed.
        if (_terminating && !_peerDisconnected)
            return new DatamoverException($"The iSER connection to {_remote} was closed on this side ({_terminateReason}).");
        return null;
    }

    public void ThrowIfClosed()
    {
        if (_failure is { } f) throw f as DatamoverException ?? new DatamoverException(f.Message, f);
        if (_terminating) throw new DatamoverException($"The iSER connection to {_remote} is closed ({_terminateReason}).");
    }

    private async Task FreeWhenStuckAsync()
    {
        var released = _released.Task;
        if (await Task.WhenAny(released, Task.Delay(_drainTimeout)).ConfigureAwait(false) == released) return;
        _logger.LogWarning("{Remote}: {Count} work requests did not complete within {Timeout} s of disconnect; freeing the connection anyway",
            _remote, References.Count - 1, _drainTimeout.TotalSeconds);
        Free(forced: true);
    }

    private void Free(bool forced)
    {
        if (Interlocked.Exchange(ref _freed, 1) != 0) return;
        try
        {
            var owner = _owner!; // attached: freeing follows a close, which needs the steps
            owner.FreeResources(_terminateReason);
            // Destroying the QP discarded what never completed: no completion will ever count those off.
            if (forced && owner.UncompletedWorkRequests is > 0 and var lost) IserConnectionCounters.Abandoned(lost);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "{Remote}: freeing the iSER connection failed", _remote);
        }
        finally
        {
            _released.TrySetResult();
        }
    }
}
