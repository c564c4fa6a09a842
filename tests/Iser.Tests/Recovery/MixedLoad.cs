using Iser.Core.Iscsi.Initiator;

namespace Iser.Tests.Recovery;

/// <summary>
/// The recovery tests' mixed load: as many writers as readers, each on runs of its own. <see cref="PrepareAsync"/>
/// writes the runs the readers will read (from LBA 8192 up), <see cref="Start"/> puts every writer (fresh bytes, from
/// LBA 0 up) and every reader in flight at once, and <see cref="VerifyAsync"/> checks that each read returned what was
/// written there first and each write landed (it reads the written runs back, one READ per writer).
/// </summary>
internal sealed class MixedLoad
{
    private const long ReadBase = 8192;
    private readonly IscsiLun _lun;
    private readonly byte[][] _written, _fresh, _read;

    private MixedLoad(IscsiLun lun, int workers, int blocks)
    {
        _lun = lun;
        Workers = workers;
        Blocks = blocks;
        _written = new byte[workers][];
        _fresh = new byte[workers][];
        _read = new byte[workers][];
    }

    /// <summary>Writers, and as many readers.</summary>
    public int Workers { get; }

    /// <summary>Blocks of 512 bytes each command moves.</summary>
    public int Blocks { get; }

    /// <summary>Every command of the load, once <see cref="Start"/> has run.</summary>
    public Task All { get; private set; } = Task.CompletedTask;

    /// <summary>Writes, one after the other, the runs the readers will read.</summary>
    public static async Task<MixedLoad> PrepareAsync(IscsiLun lun, int workers, int blocks)
    {
        var load = new MixedLoad(lun, workers, blocks);
        for (int i = 0; i < workers; i++)
        {
            load._written[i] = new byte[blocks * 512];
            Random.Shared.NextBytes(load._written[i]);
            await lun.WriteAsync(ReadBase + i * blocks, load._written[i]);
        }
        return load;
    }

    /// <summary>Issues every write and read at once; <see cref="All"/> completes when they have.</summary>
    public void Start()
    {
        var work = new List<Task>();
        for (int i = 0; i < Workers; i++)
        {
            _fresh[i] = new byte[Blocks * 512];
            Random.Shared.NextBytes(_fresh[i]);
            _read[i] = new byte[Blocks * 512];
            work.Add(_lun.WriteAsync(i * Blocks, _fresh[i]).AsTask());
            work.Add(_lun.ReadAsync(ReadBase + i * Blocks, _read[i]).AsTask());
        }
        All = Task.WhenAll(work);
    }

    /// <summary>Fails the test with <paramref name="failure"/> unless every command completed (or failed) within
    /// <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(TimeSpan timeout, Func<string> failure)
    {
        if (await Task.WhenAny(All, Task.Delay(timeout)) != All) Assert.Fail(failure());
    }

    /// <summary>Each read returned the bytes written there first; each write landed (read back here, so the logical
    /// unit executes one more READ per writer). <paramref name="story"/> is added to a failure's message.</summary>
    public async Task VerifyAsync(Func<string>? story = null)
    {
        for (int i = 0; i < Workers; i++)
        {
            if (!_written[i].AsSpan().SequenceEqual(_read[i])) Assert.Fail($"read {i} returned other bytes{story?.Invoke()}");
            var back = new byte[Blocks * 512];
            await _lun.ReadAsync(i * Blocks, back);
            if (!_fresh[i].AsSpan().SequenceEqual(back)) Assert.Fail($"write {i} did not land{story?.Invoke()}");
        }
    }
}
