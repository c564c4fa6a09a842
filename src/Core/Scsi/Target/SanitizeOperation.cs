using System.Diagnostics;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// One sanitize operation of a <see cref="BlockDeviceLogicalUnit"/> (SBC-4 §4.11): what it does, how far it has got
/// (the PROGRESS INDICATION of NOT READY, SANITIZE IN PROGRESS) and how it ended. It runs on the thread pool, apart
/// from the command that started it: an aborted command, a reset or a lost connection leave it running.
/// </summary>
internal sealed class SanitizeOperation
{
    private readonly TaskCompletionSource<bool> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ReadOnlyMemory<byte> _inverted;
    private long _done;

    /// <param name="serviceAction">OVERWRITE, BLOCK ERASE or CRYPTOGRAPHIC ERASE.</param>
    /// <param name="allowUnrestrictedExit">The AUSE bit: should it fail, EXIT FAILURE MODE may end the failure mode.</param>
    /// <param name="pattern">OVERWRITE: one logical block holding the initialization pattern, repeated.</param>
    /// <param name="passes">OVERWRITE: the OVERWRITE COUNT.</param>
    /// <param name="invert">OVERWRITE: the pattern is complemented between consecutive passes.</param>
    /// <param name="totalWork">Bytes the operation writes or erases over all its passes.</param>
    public SanitizeOperation(byte serviceAction, bool allowUnrestrictedExit, ReadOnlyMemory<byte> pattern, int passes, bool invert, long totalWork)
    {
        ServiceAction = serviceAction;
        AllowUnrestrictedExit = allowUnrestrictedExit;
        Pattern = pattern;
        var inverted = pattern.ToArray();
        for (int i = 0; i < inverted.Length; i++) inverted[i] = (byte)~inverted[i];
        _inverted = inverted;
        Passes = passes;
        Invert = invert;
        TotalWork = Math.Max(1, totalWork);
    }

    public byte ServiceAction { get; }
    public bool AllowUnrestrictedExit { get; }
    public ReadOnlyMemory<byte> Pattern { get; }
    public int Passes { get; }
    public bool Invert { get; }
    public long TotalWork { get; }

    /// <summary>The background run (set once it is started).</summary>
    public Task? Run { get; set; }

    /// <summary>True once the operation succeeded, false when it failed or was stopped.</summary>
    public Task<bool> Outcome => _outcome.Task;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>The fraction done, 0 to 1.</summary>
    public double Fraction => Math.Min(1.0, (double)Interlocked.Read(ref _done) / TotalWork);

    /// <summary>PROGRESS INDICATION: the fraction done, in 65536ths (SPC-4 §4.5.2.4.4).</summary>
    public ushort Progress => (ushort)Math.Min(ushort.MaxValue, (int)(Fraction * 65536));

    public void Advance(long work) => Interlocked.Add(ref _done, work);

    /// <summary>The pattern of pass <paramref name="pass"/> (0-based): with INVERT every second pass is complemented.</summary>
    public ReadOnlyMemory<byte> PatternOfPass(int pass) => Invert && pass % 2 == 1 ? _inverted : Pattern;

    public void Complete(bool succeeded) => _outcome.TrySetResult(succeeded);
}
