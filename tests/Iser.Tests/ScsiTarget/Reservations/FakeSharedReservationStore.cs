using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>
/// The stored reservation state several fake gateways share: bytes and a version, replaced by compare-and-swap, each
/// replacement announced to every gateway's store before the replacing call returns (as rados_notify2 waits for acks).
/// Beside it, each gateway's published target port groups, and which gateways are gone (as a lost RADOS watch shows).
/// </summary>
internal sealed class SharedReservationBoard
{
    private readonly Lock _gate = new();
    private readonly List<FakeSharedReservationStore> _stores = [];
    private byte[] _image = [];
    private ulong _version;
    private readonly Dictionary<FakeSharedReservationStore, TargetPortGroup[]> _groups = [];
    private readonly HashSet<FakeSharedReservationStore> _gone = [];

    public int Replacements { get; private set; }
    public int Conflicts { get; private set; }

    public ulong Version { get { lock (_gate) return _version; } }

    /// <summary>A gateway's store over this board: a RAM medium of its own (only the reservations are shared here).</summary>
    public FakeSharedReservationStore OpenStore(bool takesOverAccess = false, long size = 16 << 20)
    {
        var store = new FakeSharedReservationStore(this, size) { TakesOverAccess = takesOverAccess };
        lock (_gate) _stores.Add(store);
        return store;
    }

    public SharedReservationState Read()
    {
        lock (_gate) return new SharedReservationState(_image.ToArray(), _version);
    }

    /// <summary>The announcement every other gateway receives with a replacement (null: none, a plain read).</summary>
    public ulong? TryReplace(ReadOnlyMemory<byte> image, ulong expected, ReadOnlyMemory<byte> announcement, FakeSharedReservationStore from)
    {
        SharedReservationState state;
        FakeSharedReservationStore[] stores;
        lock (_gate)
        {
            if (_version != expected)
            {
                Conflicts++;
                return null;
            }
            _image = image.ToArray();
            _version++;
            Replacements++;
            state = new SharedReservationState(_image.ToArray(), _version);
            stores = [.. _stores];
        }
        foreach (var s in stores) s.Announce(ReferenceEquals(s, from) ? state : state with { Announcement = announcement.ToArray() });
        return state.Version;
    }

    public int Publications { get; private set; }

    /// <summary>A gateway's groups replace its earlier ones and take over any group of the same identifier.</summary>
    public void Publish(FakeSharedReservationStore from, IReadOnlyList<TargetPortGroup> groups)
    {
        FakeSharedReservationStore[] stores;
        lock (_gate)
        {
            foreach (var (owner, owned) in _groups.ToArray())
                if (!ReferenceEquals(owner, from)) _groups[owner] = owned.Where(g => !groups.Any(n => n.Id == g.Id)).ToArray();
            _groups[from] = [.. groups];
            _gone.Remove(from);
            Publications++;
            stores = [.. _stores];
        }
        foreach (var s in stores) s.AnnounceAccessStates();
    }

    public IReadOnlyList<SharedTargetPortGroup> OthersOf(FakeSharedReservationStore store)
    {
        lock (_gate)
            return [.. _groups.Where(e => !ReferenceEquals(e.Key, store)).SelectMany(e => e.Value.Select(g => new SharedTargetPortGroup(g, !_gone.Contains(e.Key))))];
    }

    /// <summary>The gateway of <paramref name="store"/> stopped or lost its watch: the others are told.</summary>
    public void MarkGone(FakeSharedReservationStore store)
    {
        FakeSharedReservationStore[] stores;
        lock (_gate)
        {
            _gone.Add(store);
            _stores.Remove(store);
            stores = [.. _stores];
        }
        foreach (var s in stores) s.AnnounceAccessStates();
    }

    internal void Remove(FakeSharedReservationStore store)
    {
        lock (_gate) _stores.Remove(store);
    }
}

/// <summary>One gateway's view of a <see cref="SharedReservationBoard"/>, over a RAM medium.</summary>
internal sealed class FakeSharedReservationStore(SharedReservationBoard board, long size) : IBackingStore, ISharedReservationStore, ISharedAccessStateStore
{
    private readonly RamBackingStore _medium = new(size);

    /// <summary>Runs once, between the next replacement's caller reading the state and its compare-and-swap (a racing gateway).</summary>
    public Func<Task>? BeforeNextReplace { get; set; }

    public bool SharesReservations { get; init; } = true;
    public long Size => _medium.Size;
    public bool SupportsDiscard => _medium.SupportsDiscard;

    public event Action<SharedReservationState>? ReservationsChanged;

    public ValueTask<SharedReservationState> ReadReservationsAsync(CancellationToken cancellationToken = default) => new(board.Read());

    public async ValueTask<ulong?> TryReplaceReservationsAsync(ReadOnlyMemory<byte> image, ulong expectedVersion, ReadOnlyMemory<byte> announcement,
        CancellationToken cancellationToken = default)
    {
        if (BeforeNextReplace is { } race)
        {
            BeforeNextReplace = null;
            await race();
        }
        return board.TryReplace(image, expectedVersion, announcement, this);
    }

    internal void Announce(SharedReservationState state) => ReservationsChanged?.Invoke(state);

    public bool SharesAccessStates { get; init; } = true;
    public bool TakesOverAccess { get; init; }
    public event Action? OtherTargetsChanged;
    public IReadOnlyList<SharedTargetPortGroup> OtherTargetsAccessStates => board.OthersOf(this);

    public ValueTask PublishAccessStatesAsync(IReadOnlyList<TargetPortGroup> groups, CancellationToken cancellationToken = default)
    {
        board.Publish(this, groups);
        return ValueTask.CompletedTask;
    }

    internal void AnnounceAccessStates() => OtherTargetsChanged?.Invoke();

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) => _medium.ReadAsync(offset, destination, cancellationToken);
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => _medium.WriteAsync(offset, source, cancellationToken);
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => _medium.FlushAsync(cancellationToken);
    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default) => _medium.DiscardAsync(offset, length, cancellationToken);
    public string Describe() => "fake-shared";

    public ValueTask DisposeAsync()
    {
        board.Remove(this);
        return _medium.DisposeAsync();
    }
}
