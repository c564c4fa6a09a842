using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Iser.Tests.Peers;

/// <summary>
/// A child process whose stdout and stderr are captured line by line. Every wait has a timeout,
/// and disposing kills the whole process tree, so a hung peer can never hang the test run.
/// </summary>
public sealed partial class ExternalProcess : IAsyncDisposable, IDisposable
{
    public const int SigTerm = 15;
    public const int SigInt = 2;

    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<string> _stdout = new();
    private readonly List<string> _stderr = new();
    private readonly StringBuilder _transcript = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _lineWaiters = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;

    private ExternalProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
    }

    /// <summary>The command line, quoted for a shell, for messages.</summary>
    public string CommandLine { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Exit code once the process has exited, else null.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public IReadOnlyList<string> StdoutLines { get { lock (_gate) { return _stdout.ToArray(); } } }

    public IReadOnlyList<string> StderrLines { get { lock (_gate) { return _stderr.ToArray(); } } }

    /// <summary>Both streams interleaved in arrival order, stderr lines prefixed with "! ".</summary>
    public string Transcript { get { lock (_gate) { return _transcript.ToString(); } } }

    private string TranscriptOrNone => Transcript is { Length: > 0 } text ? text : "(it printed nothing)";

    public static ExternalProcess Start(string fileName, IEnumerable<string> arguments,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // closed at once: peers must never wait for a keyboard
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        if (environment is not null)
            foreach (var (key, value) in environment)
                info.Environment[key] = value;

        string commandLine = string.Join(' ', new[] { fileName }.Concat(info.ArgumentList).Select(QuoteForShell));
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var wrapper = new ExternalProcess(process, commandLine);
        process.OutputDataReceived += (_, e) => wrapper.OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => wrapper.OnLine(e.Data, isError: true);
        try
        {
            process.Start();
        }
        catch (Exception e)
        {
            process.Dispose();
            throw new InvalidOperationException($"Could not start `{commandLine}`: {e.Message}", e);
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    /// <summary>Runs a command to completion and returns its exit code and output.</summary>
    /// <exception cref="TimeoutException">The command ran longer than <paramref name="timeout"/>; it was killed.</exception>
    public static async Task<ProcessResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.StartNew();
        await using var process = Start(fileName, arguments, environment: environment);
        int exitCode = await process.WaitForExitAsync(timeout, cancellationToken).ConfigureAwait(false);
        return new ProcessResult(process.CommandLine, exitCode,
            string.Join('\n', process.StdoutLines), string.Join('\n', process.StderrLines),
            process.Transcript, started.Elapsed);
    }

    /// <summary>Waits for a stdout or stderr line matching <paramref name="match"/> (lines already seen count).</summary>
    /// <exception cref="TimeoutException">No such line within the timeout.</exception>
    /// <exception cref="InvalidOperationException">The process exited (and its output drained) without printing one.</exception>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            string? seen = _stdout.Concat(_stderr).FirstOrDefault(match);
            if (seen is not null)
                return seen;
            _lineWaiters.Add((match, found));
        }

        Task outputDrained = Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task);
        Task first = await Task.WhenAny(found.Task, outputDrained, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        lock (_gate)
            _lineWaiters.RemoveAll(w => w.Found == found);
        if (found.Task.IsCompleted)
            return await found.Task.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (first == outputDrained)
        {
            string exit = _process.WaitForExit(5000) ? $"exited with code {_process.ExitCode}" : "closed its output";
            throw new InvalidOperationException(
                $"`{CommandLine}` {exit} before printing the awaited line. Its output:\n{TranscriptOrNone}");
        }
        throw new TimeoutException(
            $"`{CommandLine}` printed no awaited line within {timeout.TotalSeconds:0.#} s. Its output so far:\n{TranscriptOrNone}");
    }

    /// <summary>Waits for exit and for all output to be read; kills the tree and throws on timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            // WaitForExitAsync also waits for redirected streams to reach EOF, but a grandchild holding the
            // pipe open could stall that, so our own end-of-stream signals are awaited with a bound too.
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            KillTree();
            throw new TimeoutException(
                $"`{CommandLine}` did not finish within {timeout.TotalSeconds:0.#} s and was killed. Its output:\n{TranscriptOrNone}");
        }
        catch (TimeoutException)
        {
            // Output pipes held open by a grandchild: the exit code is still valid.
        }
        return _process.ExitCode;
    }

    /// <summary>Sends a POSIX signal (e.g. <see cref="SigTerm"/>) to the process itself.</summary>
    public void Signal(int signal)
    {
        if (_process.HasExited)
            return;
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            throw new PlatformNotSupportedException("Sending POSIX signals needs Linux or macOS.");
        if (SendSignal(_process.Id, signal) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (!_process.HasExited)
                throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed with errno {errno}.");
        }
    }

    /// <summary>Kills the process and all its descendants; never throws.</summary>
    public void KillTree()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Raced with exit.
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        KillTree();
        _process.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            (isError ? _stderrClosed : _stdoutClosed).TrySetResult();
            return;
        }

        List<TaskCompletionSource<string>>? matched = null;
        lock (_gate)
        {
            (isError ? _stderr : _stdout).Add(line);
            _transcript.Append(isError ? "! " : "").Append(line).Append('\n');
            foreach (var (match, found) in _lineWaiters)
                if (match(line))
                    (matched ??= new()).Add(found);
        }
        if (matched is not null)
            foreach (var found in matched)
                found.TrySetResult(line);
    }

    private static string QuoteForShell(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@%+,".Contains(c))
            ? word
            : "'" + word.Replace("'", "'\\''") + "'";

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}
