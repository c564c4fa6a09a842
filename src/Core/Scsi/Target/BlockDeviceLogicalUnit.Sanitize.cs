using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Scsi.Target;

// SANITIZE (SBC-4 §5.29, §4.11): OVERWRITE with an initialization pattern; on a thin-provisioned unit also BLOCK ERASE
// (every block deallocated, reading back as zeros, LBPRZ) and CRYPTOGRAPHIC ERASE (every block overwritten with random
// bytes, what a self-encrypting disk's blocks read as once its key is replaced); EXIT FAILURE MODE.
// The operation runs on the thread pool; while it runs other commands get NOT READY, SANITIZE IN PROGRESS with its
// progress. One that fails leaves the unit refusing medium access (SANITIZE COMMAND FAILED) until a SANITIZE
// succeeds or, when it was started with AUSE, until EXIT FAILURE MODE.
public sealed partial class BlockDeviceLogicalUnit
{
    private const int OverwriteHeaderLength = 4;

    private readonly CancellationTokenSource _lifetime = new();
    private SanitizeOperation? _sanitizing;        // the operation in progress, set and cleared with Interlocked/Volatile
    private volatile SanitizeOperation? _sanitizeFailed; // the last one, when it failed

    /// <summary>BLOCK ERASE and CRYPTOGRAPHIC ERASE: offered where blocks can be deallocated (LBPME), as SBC-4 has BLOCK ERASE leave them.</summary>
    private bool EraseOffered => _thin;

    /// <summary>The commands SBC-4 §4.11.2 lets through while a sanitize runs (and after one failed).</summary>
    private static bool AllowedWhileSanitizing(byte opcode) =>
        opcode is SbcOpcode.Inquiry or SbcOpcode.ReportLuns or SbcOpcode.RequestSense;

    private ScsiCommandResult? SanitizeInProgressRefusal(byte opcode) =>
        Volatile.Read(ref _sanitizing) is { } running && !AllowedWhileSanitizing(opcode)
            ? ScsiCommandResult.CheckCondition(SenseBuilder.WithProgress(SenseCondition.SanitizeInProgress, running.Progress))
            : null;

    private ScsiCommandResult? SanitizeFailureRefusal(byte opcode) =>
        _sanitizeFailed is not null && opcode != SbcOpcode.Sanitize && !AllowedWhileSanitizing(opcode)
            ? Check(SenseCondition.SanitizeCommandFailed)
            : null;

    /// <summary>REQUEST SENSE while a sanitize runs: NOT READY, SANITIZE IN PROGRESS with the progress indication.</summary>
    private byte[]? SanitizeProgressSense() =>
        Volatile.Read(ref _sanitizing) is { } running ? SenseBuilder.WithProgress(SenseCondition.SanitizeInProgress, running.Progress) : null;

    private SenseCondition? SanitizeFailureCondition => _sanitizeFailed is null ? null : SenseCondition.SanitizeCommandFailed;

    private ValueTask<ScsiCommandResult> Sanitize(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        byte flags = cdb[1];
        if ((flags & 0x40) != 0) return InvalidFieldDone(1, 6);
        for (int i = 2; i <= 6; i++)
            if (cdb[i] != 0) return InvalidFieldDone(i, HighestBit(cdb[i]));
        bool immediate = (flags & 0x80) != 0;
        bool ause = (flags & 0x20) != 0;
        byte action = (byte)(flags & 0x1F);
        int listLength = BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        switch (action)
        {
            case SbcOpcode.SanitizeOverwrite:
                // Four header bytes and a pattern of one to one logical block's length.
                if (listLength <= OverwriteHeaderLength || listLength > BlockSize + OverwriteHeaderLength) return InvalidFieldDone(7);
                break;
            case SbcOpcode.SanitizeBlockErase when EraseOffered:
            case SbcOpcode.SanitizeCryptographicErase when EraseOffered:
            case SbcOpcode.SanitizeExitFailureMode:
                if (listLength != 0) return InvalidFieldDone(7);
                break;
            default:
                return InvalidFieldDone(1, 4);
        }
        if (_stopped) return Done(Check(NotReady));
        if (WriteProtected) return Done(Check(SenseCondition.WriteProtected));
        if (action == SbcOpcode.SanitizeExitFailureMode) return Done(ExitFailureMode());
        if (action == SbcOpcode.SanitizeOverwrite) return OverwriteAsync(task, listLength, immediate, ause, cancellationToken);
        long work = BlockCount << _blockShift;
        return StartSanitizeAsync(new SanitizeOperation(action, ause, ReadOnlyMemory<byte>.Empty, 1, false, work), immediate, 0, cancellationToken);
    }

    /// <summary>
    /// EXIT FAILURE MODE: ends the failure mode of a sanitize that failed after a SANITIZE with AUSE set; the medium is
    /// then usable, its contents unspecified. After one with AUSE clear only a new sanitize ends it, so the request is
    /// refused; with no failed sanitize there is nothing to exit and it completes at once.
    /// </summary>
    private ScsiCommandResult ExitFailureMode()
    {
        if (_sanitizeFailed is { } failed)
        {
            if (!failed.AllowUnrestrictedExit) return InvalidField(1, 4);
            _sanitizeFailed = null;
            _logger.LogWarning("Logical unit {Identity}: SANITIZE EXIT FAILURE MODE; the medium is usable with its contents unspecified.", Identity);
        }
        return ScsiCommandResult.Good();
    }

    private async ValueTask<ScsiCommandResult> OverwriteAsync(IScsiTask task, int listLength, bool immediate, bool ause, CancellationToken cancellationToken)
    {
        int available = Math.Min(listLength, task.ExpectedDataOutLength);
        var list = available == 0 ? ReadOnlyMemory<byte>.Empty : await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (list.Length < listLength) return Check(SenseCondition.ParameterListLengthError) with { DataOutLength = listLength };
        var p = list.Span[..listLength];
        // Byte 0: INVERT, TEST (00b: no test mode is offered), OVERWRITE COUNT (0 reserved); byte 1 reserved;
        // bytes 2-3: INITIALIZATION PATTERN LENGTH, 1 to the block length and within the list.
        bool invert = (p[0] & 0x80) != 0;
        int passes = p[0] & 0x1F;
        int patternLength = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
        int? badByte = null, badBit = null;
        if ((p[0] & 0x60) != 0) (badByte, badBit) = (0, HighestBit(p[0] & 0x60));
        else if (passes == 0) (badByte, badBit) = (0, 4);
        else if (p[1] != 0) (badByte, badBit) = (1, HighestBit(p[1]));
        else if (patternLength == 0 || patternLength > BlockSize || patternLength > listLength - OverwriteHeaderLength) badByte = 2;
        if (badByte is { } b)
            return ScsiCommandResult.CheckCondition(SenseBuilder.ParameterField(SenseCondition.InvalidFieldInParameterList, b, badBit), dataOutLength: listLength);

        // One logical block of the pattern repeated from its first byte.
        var block = new byte[BlockSize];
        var pattern = p.Slice(OverwriteHeaderLength, patternLength);
        for (int at = 0; at < BlockSize; at += patternLength)
            pattern[..Math.Min(patternLength, BlockSize - at)].CopyTo(block.AsSpan(at));
        long work = (BlockCount << _blockShift) * passes;
        var operation = new SanitizeOperation(SbcOpcode.SanitizeOverwrite, ause, block, passes, invert, work);
        return await StartSanitizeAsync(operation, immediate, listLength, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts <paramref name="operation"/> unless another runs; with IMMED answers at once, else when it is done. An
    /// aborted command stops waiting; the operation goes on (SBC-4 §4.11.1).
    /// </summary>
    private async ValueTask<ScsiCommandResult> StartSanitizeAsync(SanitizeOperation operation, bool immediate, int dataOut, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _sanitizing, operation, null) is { } running)
            return ScsiCommandResult.CheckCondition(SenseBuilder.WithProgress(SenseCondition.SanitizeInProgress, running.Progress), dataOutLength: dataOut);
        _logger.LogWarning("Logical unit {Identity}: SANITIZE {Action} started{Immediate}; every block is lost.",
            Identity, SanitizeActionName(operation.ServiceAction), immediate ? " (IMMED)" : "");
        operation.Run = Task.Run(() => RunSanitizeAsync(operation, _lifetime.Token), CancellationToken.None);
        if (immediate) return ScsiCommandResult.Good(dataOutLength: dataOut);
        bool succeeded = await operation.Outcome.WaitAsync(cancellationToken).ConfigureAwait(false);
        return succeeded ? ScsiCommandResult.Good(dataOutLength: dataOut) : Check(SenseCondition.SanitizeCommandFailed) with { DataOutLength = dataOut };
    }

    private async Task RunSanitizeAsync(SanitizeOperation operation, CancellationToken stopping)
    {
        bool succeeded = false;
        try
        {
            // Writes that began before the sanitize finish first; every later command is refused while it runs.
            using (await _ranges.AcquireAsync(0, BlockCount, exclusive: true, stopping).ConfigureAwait(false))
            {
                long length = BlockCount << _blockShift;
                // About 256 steps, so the progress indication moves, in whole blocks of at least FillChunk bytes.
                long step = Math.Max(FillChunk, ((length / 256) + BlockSize - 1) >> _blockShift << _blockShift);
                for (int pass = 0; pass < operation.Passes; pass++)
                {
                    for (long offset = 0; offset < length; offset += step)
                    {
                        long n = Math.Min(step, length - offset);
                        await SanitizeRangeAsync(operation, pass, offset, n, stopping).ConfigureAwait(false);
                        operation.Advance(n);
                        await PaceSanitizeAsync(operation, stopping).ConfigureAwait(false);
                    }
                }
                await _store.FlushAsync(stopping).ConfigureAwait(false);
            }
            succeeded = true;
            _logger.LogInformation("Logical unit {Identity}: SANITIZE {Action} completed in {Elapsed}.",
                Identity, SanitizeActionName(operation.ServiceAction), operation.Elapsed);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            _logger.LogWarning("Logical unit {Identity}: stopped with SANITIZE {Action} {Percent:F0}% done; the medium holds part of the old data.",
                Identity, SanitizeActionName(operation.ServiceAction), operation.Fraction * 100);
        }
        catch (Exception e) when (IsMediumFailure(e))
        {
            _logger.LogError(e, "Logical unit {Identity}: SANITIZE {Action} failed; the medium is refused until a SANITIZE succeeds{Exit}.",
                Identity, SanitizeActionName(operation.ServiceAction), operation.AllowUnrestrictedExit ? " or EXIT FAILURE MODE" : "");
        }
        finally
        {
            if (succeeded) _sanitizeFailed = null;
            else if (!stopping.IsCancellationRequested) _sanitizeFailed = operation;
            Volatile.Write(ref _sanitizing, null);
            operation.Complete(succeeded);
        }
    }

    private async ValueTask SanitizeRangeAsync(SanitizeOperation operation, int pass, long offset, long length, CancellationToken stopping)
    {
        switch (operation.ServiceAction)
        {
            case SbcOpcode.SanitizeOverwrite:
                await FillAsync(offset, length, operation.PatternOfPass(pass), stopping).ConfigureAwait(false);
                break;
            case SbcOpcode.SanitizeBlockErase:
                await _store.DiscardAsync(offset, length, stopping).ConfigureAwait(false);
                break;
            default: // CRYPTOGRAPHIC ERASE
                await FillRandomAsync(offset, length, stopping).ConfigureAwait(false);
                break;
        }
    }

    private async ValueTask FillRandomAsync(long offset, long length, CancellationToken cancellationToken)
    {
        int chunk = (int)Math.Min(length, FillChunk);
        var buffer = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            while (length > 0)
            {
                int n = (int)Math.Min(length, chunk);
                RandomNumberGenerator.Fill(buffer.AsSpan(0, n));
                await _store.WriteAsync(offset, buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                offset += n;
                length -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>With <see cref="BlockDeviceOptions.SanitizeMinimumDuration"/>, holds the operation back to that pace.</summary>
    private async ValueTask PaceSanitizeAsync(SanitizeOperation operation, CancellationToken stopping)
    {
        var minimum = _options.SanitizeMinimumDuration;
        if (minimum <= TimeSpan.Zero) return;
        var ahead = minimum * operation.Fraction - operation.Elapsed;
        if (ahead > TimeSpan.Zero) await Task.Delay(ahead, stopping).ConfigureAwait(false);
    }

    /// <summary>The target stops: a running sanitize ends where it is (a disk would resume it at power-on; ours is not kept).</summary>
    private async ValueTask StopSanitizeAsync()
    {
        if (_lifetime.IsCancellationRequested) return;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _sanitizing)?.Run is { } run)
        {
            try { await run.ConfigureAwait(false); }
            catch (Exception e) { _logger.LogWarning(e, "Logical unit {Identity}: the sanitize ended badly at shutdown.", Identity); }
        }
    }

    private static string SanitizeActionName(byte action) => action switch
    {
        SbcOpcode.SanitizeOverwrite => "OVERWRITE",
        SbcOpcode.SanitizeBlockErase => "BLOCK ERASE",
        SbcOpcode.SanitizeCryptographicErase => "CRYPTOGRAPHIC ERASE",
        _ => "EXIT FAILURE MODE",
    };
}
