namespace Iser.Tests.Peers;

/// <summary>
/// An xunit class fixture owning one <see cref="TgtdInstance"/> (64 MiB LUN 1, 16 MiB LUN 2, no CHAP) shared by a
/// test class's read-only tests. Tests that write or need a fresh LUN start their own instance.
/// Does nothing when tgtd is not installed (the tests using it are skipped then).
/// </summary>
public sealed class TgtdFixture : IAsyncLifetime
{
    public static readonly IReadOnlyList<long> LunSizes = new[] { 64L * 1024 * 1024, 16L * 1024 * 1024 };

    private TgtdInstance? _instance;

    public TgtdInstance Instance => _instance ?? throw new InvalidOperationException(
        PeerTools.TgtdMissingReason ?? "The tgtd fixture was not started.");

    public async Task InitializeAsync()
    {
        if (PeerTools.TgtdMissingReason is null)
            _instance = await TgtdInstance.StartAsync(new TgtdOptions { LunSizesInBytes = LunSizes }).ConfigureAwait(false);
    }

    public async Task DisposeAsync()
    {
        if (_instance is not null)
            await _instance.DisposeAsync().ConfigureAwait(false);
    }
}
