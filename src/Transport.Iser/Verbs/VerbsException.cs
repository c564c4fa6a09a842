using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// A failed rdma-core call, with the errno decoded to a sentence
/// (e.g. "ibv_reg_mr failed: Cannot allocate memory (errno 12)").
/// </summary>
public sealed class VerbsException : Exception
{
    public VerbsException(string operation, int errno)
        : base(Describe(operation, errno))
    {
        Operation = operation;
        Errno = errno;
    }

    public VerbsException(string operation, string message)
        : base($"{operation} failed: {message}")
    {
        Operation = operation;
    }

    /// <summary>The native function (or step) that failed.</summary>
    public string Operation { get; }

    /// <summary>The errno value, 0 when the failure was not an errno.</summary>
    public int Errno { get; }

    /// <summary>Decodes an errno value to the C library's text.</summary>
    public static string ErrnoText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    internal static string Describe(string operation, int errno) =>
        $"{operation} failed: {ErrnoText(errno)} (errno {errno})";

    /// <summary>Throws for a call that set errno (returned NULL or -1).</summary>
    internal static VerbsException FromLastError(string operation)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new VerbsException(operation, errno == 0 ? 5 /* EIO: the library gave no reason */ : errno);
    }

    /// <summary>For calls that return an errno value directly (0 on success), or -1 with errno set.</summary>
    internal static void ThrowIfFailed(string operation, int rc)
    {
        if (rc == 0)
        {
            return;
        }

        throw rc > 0 ? new VerbsException(operation, rc) : FromLastError(operation);
    }
}
