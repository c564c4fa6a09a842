namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// The outcome of ibv_post_send / ibv_post_recv on a chain of work requests. On failure the
/// provider names the first WR it refused (bad_wr): WRs before it were posted and will complete,
/// that WR and the rest were not. Callers account buffer references with <see cref="Posted"/>.
/// </summary>
public readonly record struct PostResult(int Posted, int Requested, int Errno)
{
    public bool Succeeded => Errno == 0;

    /// <summary>How many WRs of the chain were not posted (and will never complete).</summary>
    public int NotPosted => Requested - Posted;

    /// <summary>A sentence for logs and exceptions; empty on success.</summary>
    public string ErrorText(string operation) => Succeeded
        ? ""
        : $"{VerbsException.Describe(operation, Errno)}; {Posted} of {Requested} work requests were posted.";

    /// <summary>Throws a VerbsException when the post failed.</summary>
    public void ThrowIfFailed(string operation)
    {
        if (!Succeeded)
        {
            throw new VerbsException(operation, ErrorText(operation));
        }
    }
}
