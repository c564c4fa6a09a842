using Iser.Core.Scsi.Target.Stores;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>
/// The stored reservation state several fake gateways share: bytes and a version, replaced by compare-and-swap, each
/// replacement announced to every gateway's store before the replacing call returns (as rados_notify2 waits for acks).
/// </summary>
internal sealed class SharedReservationBoard
{
    private readonly Lock _gate = new();
    private readonly List<FakeSharedReservationStore> _stores = [];
    private byte[] _image = [];
    private ulong _version;

    public int Replacements { get; private set; }
    public int Conflicts { get; private set; }

    public ulong Version { get { lock (_gate) return _version; } }

    /// <summary>A gateway's store over this board: a RAM medium of its own (only the reservations are shared here).</summary>
    public FakeSharedReservationStore OpenStore(long size = 16 << 20)
    {
        var store = new FakeSharedReservationStore(this, size);
        lock (_gate) _stores.Add(store);
        return store;
    }

    public SharedReservationState Read()
    {
        lock (_gate) return new SharedReservationState(_image.ToArray(), _version);
    }

    public ulong? TryReplace(ReadOnlyMemory<byte> image, ulong expected)
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
        foreach (var s in stores) s.Announce(state);
        return state.Version;
    }

    internal void Remove(FakeSharedReservationStore store)
    {
        lock (_gate) _stores.Remove(store);
    }
}

/// <summary>One gateway's view of a <see cref="SharedReservationBoard"/>, over a RAM medium.</summary>
internal sealed class FakeSharedReservationStore(SharedReservationBoard board, long size) : IBackingStore, ISharedReservationStore
{
    private readonly RamBackingStore _medium = new(size);

    /// <summary>Runs once, between the next replacement's caller reading the state and its compare-and-swap (a racing gateway).</summary>
    public Func<Task>? BeforeNextReplace { get; set; }

    public bool SharesReservations { get; init; } = true;
    public long Size => _medium.Size;
    public bool SupportsDiscard => _medium.SupportsDiscard;

    public event Action<SharedReservationState>? ReservationsChanged;

    public ValueTask<SharedReservationState> ReadReservationsAsync(CancellationToken cancellationToken = default) => new(board.Read());

    public async ValueTask<ulong?> TryReplaceReservationsAsync(ReadOnlyMemory<byte> image, ulong expectedVersion, CancellationToken cancellationToken = default)
    {
        if (BeforeNextReplace is { } race)
        {
            BeforeNextReplace = null;
            await race();
        }
        return board.TryReplace(image, expectedVersion);
    }

    internal void Announce(SharedReservationState state) => ReservationsChanged?.Invoke(state);

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
