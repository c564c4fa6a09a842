using System.Runtime.InteropServices;

namespace Iser.Core.Threading;

/// <summary>
/// A word two threads sleep and wake on through futex(2) (Linux): a wake is one system call and a wait sleeps at once.
/// The runtime's Monitor and semaphores spin before they sleep and after they wake (to take their lock back), which
/// on a hand-over per response costs more CPU than the hand-over itself.
/// </summary>
internal sealed unsafe partial class Futex
{
    private static readonly nint SYS_futex = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 98 : 202;
    private const int FUTEX_WAIT_PRIVATE = 128;
    private const int FUTEX_WAKE_PRIVATE = 129;

    // On the pinned object heap: the kernel keys the futex by this address, which must not move.
    private readonly int[] _word = GC.AllocateArray<int>(1, pinned: true);

    /// <summary>Where the calls exist: Linux on x86-64 or arm64 (the system call numbers above).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>The word's value now; pass it to <see cref="Wait"/> after deciding to sleep.</summary>
    public int Value => Volatile.Read(ref _word[0]);

    /// <summary>Sleeps unless the word changed from <paramref name="seen"/> (spurious returns are allowed: re-check).</summary>
    public void Wait(int seen)
    {
        fixed (int* word = _word) syscall(SYS_futex, (nint)word, FUTEX_WAIT_PRIVATE, seen, 0, 0, 0);
    }

    /// <summary>Changes the word and wakes its sleepers.</summary>
    public void Signal()
    {
        Interlocked.Increment(ref _word[0]);
        fixed (int* word = _word) syscall(SYS_futex, (nint)word, FUTEX_WAKE_PRIVATE, int.MaxValue, 0, 0, 0);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint syscall(nint number, nint address, nint operation, nint value, nint timeout, nint address2, nint value3);
}
