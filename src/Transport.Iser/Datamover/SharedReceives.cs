using Iser.Core.Datamover;
using Iser.Transport.Iser.Memory;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The receive buffers the connections on one device share (a target listener's, or the initiators'), posted to one SRQ (as Linux isert and SPDK's
/// NVMe-oF RDMA transport share theirs): <see cref="BasePosted"/> buffers, <see cref="PerConnection"/> more for
/// each connection, and more again when a completion finds fewer than a quarter still posted (load), up to
/// <see cref="IserOptions.SharedReceiveLimit"/>. A buffer goes back to the SRQ as soon as its PDU is decoded, so what
/// is consumed at a time is only what arrived and is not yet polled; a connection registers no receive memory of its
/// own. Work request ids carry <see cref="Tag"/> so a completion is known for the SRQ's whatever the connection's
/// state (a late one, for a connection already freed, still gives its buffer back). Its posts are counted apart
/// (<see cref="IserConnectionCounters.SharedReceivesPosted"/>): they belong to the listener, not to a connection.
/// </summary>
internal sealed class SharedReceives : IDisposable
{
    /// <summary>High bit of a wr_id: the request is this SRQ's, the low bits its slot.</summary>
    public const ulong Tag = 1UL << 63;

    public const int BasePosted = 32;
    public const int PerConnection = 8;
    private const int BlocksPerSlab = 16;

    private readonly SharedReceiveQueue _srq;
    private readonly RegisteredBufferPool _pool;
    private readonly WorkRequestTable _slots;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly Lock _fillGate = new();
    private int _wanted;
    private int _posted;
    private bool _closed;

    /// <param name="registeredChanged">Told the bytes its buffers register and release (the owner's meter).</param>
    public SharedReceives(ProtectionDomain pd, IserOptions options, ILogger logger, string name, Action<long> registeredChanged)
    {
        _logger = logger;
        _name = name;
        int limit = options.SharedReceiveLimit;
        _srq = pd.CreateSharedReceiveQueue(limit);
        try
        {
            Limit = Math.Min(limit, _srq.Capacity);
            _pool = new RegisteredBufferPool(pd, options.ControlBufferSize, BlocksPerSlab, maxSlabs: (Limit + BlocksPerSlab - 1) / BlocksPerSlab,
                initialSlabs: 0, registeredChanged: registeredChanged);
            _slots = new WorkRequestTable(Limit);
            _wanted = Math.Min(Limit, BasePosted);
        }
        catch
        {
            _srq.Dispose();
            throw;
        }
    }

    public SharedReceiveQueue Queue => _srq;

    /// <summary>Most buffers ever posted at once (a CQ reports at most this many receive completions at a time).</summary>
    public int Limit { get; }

    /// <summary>Buffers posted now.</summary>
    public int Posted => Volatile.Read(ref _posted);

    /// <summary>Buffers the SRQ is kept at.</summary>
    public int Wanted => Volatile.Read(ref _wanted);

    public int BlockSize => _pool.BlockSize;

    public static bool Owns(ulong wrId) => (wrId & Tag) != 0;

    /// <summary>A connection joins: its share is posted (before its accept, so its Login Request finds a buffer).</summary>
    public void ConnectionAdded() => Raise(PerConnection, "a connection joined");

    /// <summary>Takes the buffer of a completed receive of this SRQ; <see cref="Repost"/> gives it back.</summary>
    public RegisteredBlock Take(ulong wrId)
    {
        var slot = _slots.Take(wrId & ~Tag);
        int left = Interlocked.Decrement(ref _posted);
        IserConnectionCounters.SharedReceivePosted(-1);
        int wanted = Volatile.Read(ref _wanted);
        // Load: most of the SRQ is consumed and waiting to be polled. Double it while the limit allows.
        if (left < wanted / 4 && wanted < Limit) Raise(wanted, "load");
        return slot.Block;
    }

    /// <summary>The buffer is free again (its PDU decoded, or nobody wants it): posted anew, up to what is wanted.</summary>
    public void Repost(RegisteredBlock block)
    {
        bool belowWanted;
        lock (_fillGate)
        {
            if (_closed || Volatile.Read(ref _posted) >= _wanted)
            {
                _pool.Return(block);
                return;
            }
            // One lock per received PDU on the hot path; more buffers only when the SRQ was raised meanwhile.
            belowWanted = PostLocked(block) && Volatile.Read(ref _posted) < _wanted;
        }
        if (belowWanted) Fill();
    }

    private void Raise(int by, string why)
    {
        int before, after;
        lock (_fillGate)
        {
            before = _wanted;
            after = Math.Min(Limit, before + by);
            _wanted = after;
        }
        Fill();
        if (after != before && why == "load")
            _logger.LogInformation("iSER {Name}: shared receive queue raised from {Before} to {After} buffers ({Why})", _name, before, after, why);
    }

    /// <summary>Posts buffers until the SRQ holds what is wanted (or the pool cannot grow).</summary>
    private void Fill()
    {
        lock (_fillGate)
        {
            while (!_closed && _posted < _wanted)
            {
                bool rented;
                RegisteredBlock block;
                try
                {
                    rented = _pool.TryRent(out block);
                }
                catch (VerbsException e)
                {
                    _logger.LogWarning("iSER {Name}: registering more receive buffers failed: {Error}", _name, e.Message);
                    return;
                }
                if (!rented) return;
                if (!PostLocked(block)) return;
            }
        }
    }

    private bool PostLocked(RegisteredBlock block)
    {
        if (!_slots.TryAllocate(WorkRequestKind.Receive, block, null, null, out ulong slot))
        {
            _pool.Return(block);
            return false;
        }
        PostResult result = _srq.PostReceive(slot | Tag, block.Sge(block.Length));
        if (!result.Succeeded)
        {
            _slots.Take(slot);
            _pool.Return(block);
            _logger.LogWarning("iSER {Name}: posting a shared receive buffer failed: {Error}", _name, result.ErrorText("ibv_post_srq_recv"));
            return false;
        }
        Interlocked.Increment(ref _posted);
        IserConnectionCounters.SharedReceivePosted(1);
        return true;
    }

    /// <summary>After the last queue pair on it is gone: the SRQ and its buffers are freed.</summary>
    public void Dispose()
    {
        int abandoned;
        lock (_fillGate)
        {
            _closed = true;
            abandoned = Interlocked.Exchange(ref _posted, 0);
        }
        _srq.Dispose();
        _pool.Dispose();
        // Posted and never completed: they go with the SRQ.
        IserConnectionCounters.SharedReceivePosted(-abandoned);
    }
}
