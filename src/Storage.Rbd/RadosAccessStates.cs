using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Storage.Rbd;

/// <summary>
/// The ALUA target port groups of every gateway serving an image, in the RADOS object <c>iser.alua.IMAGE_ID</c>
/// (<see cref="AccessStateImage"/>, under the xattr <c>iser.alua.version</c>): each gateway stores its groups under its
/// client's global id by compare-and-swap and notifies the others. A gateway is there while it answers: every
/// <see cref="PollInterval"/> an empty notification goes to the object's watchers, and those that ack within
/// <see cref="PingTimeout"/> are there. One that stopped has unwatched (no ack); one that died or hangs does not ack in
/// time.
/// </summary>
internal sealed class RadosAccessStates : IDisposable
{
    private const int PublishAttempts = 16;
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(3);

    private readonly RadosSharedObject _object;
    private readonly Lock _gate = new();
    private readonly Timer _poll;
    private List<GatewayGroups> _gateways = [];
    private HashSet<long> _present = [];
    private IReadOnlyList<SharedTargetPortGroup> _others = [];
    private int _disposed;

    private RadosAccessStates(RadosSharedObject shared)
    {
        _object = shared;
        _poll = new Timer(static s => ((RadosAccessStates)s!).Poll(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Raised when <see cref="Others"/> changed.</summary>
    public event Action? Changed;

    public string ObjectName => _object.ObjectName;

    /// <summary>The other gateways' groups, each with whether its gateway still watches the object.</summary>
    public IReadOnlyList<SharedTargetPortGroup> Others => Volatile.Read(ref _others);

    /// <summary>Watches and reads the object, and starts polling its watchers. Blocking; failures are <see cref="CephException"/>s.</summary>
    public static RadosAccessStates Open(Native.SafeIoContextHandle pool, string oid, string describe)
    {
        var shared = RadosSharedObject.Open(pool, oid, "iser.alua.version", "ALUA", describe);
        var states = new RadosAccessStates(shared);
        try
        {
            shared.Changed += states.OnChanged;
            states.Refresh(states.DecodeOrNone(shared.Read().Payload.Span), shared.Ping(PingTimeout));
            states._poll.Change(PollInterval, Timeout.InfiniteTimeSpan);
            return states;
        }
        catch
        {
            states.Dispose();
            throw;
        }
    }

    /// <summary>Stores <paramref name="groups"/> as this gateway's, taking over groups of the same identifier from others.</summary>
    public void Publish(IReadOnlyList<TargetPortGroup> groups)
    {
        ulong self = _object.InstanceId;
        for (int attempt = 1; attempt <= PublishAttempts; attempt++)
        {
            var stored = _object.Read();
            var gateways = DecodeOrNone(stored.Payload.Span)
                .Where(g => g.Gateway != self)
                .Select(g => g with { Groups = g.Groups.Where(x => !groups.Any(n => n.Id == x.Id)).ToArray() })
                .Where(g => g.Groups.Length > 0)
                .ToList();
            gateways.Add(new GatewayGroups(self, [.. groups]));
            if (_object.TryReplace(AccessStateImage.Encode(gateways), stored.Version, ReadOnlySpan<byte>.Empty) is not null) return;
        }
        throw new CephException($"The ALUA object {_object.ObjectName} changed under each of {PublishAttempts} attempts to store this gateway's groups.", errno: 125);
    }

    /// <summary>The gateways' groups stored; none (said on standard error) when the object is damaged, which the next publication repairs.</summary>
    private List<GatewayGroups> DecodeOrNone(ReadOnlySpan<byte> payload)
    {
        try { return AccessStateImage.Decode(payload); }
        catch (InvalidDataException e)
        {
            Console.Error.WriteLine($"warning: {_object.ObjectName} holds no readable ALUA state ({e.Message}); it is taken as empty.");
            return [];
        }
    }

    /// <summary>Another gateway (or this one) stored groups: what the others have now, before the ack.</summary>
    private void OnChanged(RadosObjectState state, ReadOnlyMemory<byte> announcement)
    {
        var gateways = AccessStateImage.Decode(state.Payload.Span);
        HashSet<long> present;
        lock (_gate)
        {
            present = [.. _present];
            // A gateway not heard of before just stored its groups, so it is there (until the next poll says otherwise).
            foreach (var g in gateways)
                if (!_gateways.Any(known => known.Gateway == g.Gateway)) present.Add((long)g.Gateway);
        }
        Refresh(gateways, present);
    }

    private void Poll()
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        try
        {
            Refresh(null, _object.Ping(PingTimeout));
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            Console.Error.WriteLine($"warning: checking which gateways watch {_object.ObjectName} failed: {e.Message}");
        }
        // One ping at a time: the next is due a poll interval after this one answered (or timed out).
        try { if (Volatile.Read(ref _disposed) == 0) _poll.Change(PollInterval, Timeout.InfiniteTimeSpan); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Installs what was read or heard (null: as before) and raises <see cref="Changed"/> if the others' groups changed.</summary>
    private void Refresh(List<GatewayGroups>? heard, HashSet<long> present)
    {
        ulong self = _object.InstanceId;
        bool changed;
        lock (_gate)
        {
            var gateways = heard ?? _gateways;
            var others = gateways.Where(g => g.Gateway != self)
                .SelectMany(g => g.Groups.Select(x => new SharedTargetPortGroup(x, present.Contains((long)g.Gateway))))
                .OrderBy(x => x.Group.Id)
                .ToArray();
            _gateways = gateways;
            _present = present;
            changed = !others.SequenceEqual(_others);
            if (changed) Volatile.Write(ref _others, others);
        }
        if (changed) Changed?.Invoke();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // A ping under way finishes before the watch goes (it ends within its timeout).
        using (var stopped = new ManualResetEvent(false))
            if (_poll.Dispose(stopped)) stopped.WaitOne(PingTimeout + TimeSpan.FromSeconds(1));
        _object.Dispose();
    }
}
