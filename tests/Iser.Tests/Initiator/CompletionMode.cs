using Iser.Core.Iscsi.Initiator;

namespace Iser.Tests.Initiator;

/// <summary>The initiator's completion modes the suites run in (CompletionOptions): each suite has one class per mode.</summary>
public enum CompletionMode
{
    /// <summary>The default: continuations on the thread pool, the transport sleeping until a completion.</summary>
    ThreadPool,
    /// <summary>Continuations inline on the completion thread.</summary>
    Inline,
    /// <summary>The transport busy-polls (iSER CQ without arming, TCP non-blocking socket on its own thread).</summary>
    BusyPoll,
}

internal static class CompletionModes
{
    public static IscsiSessionOptions In(this IscsiSessionOptions options, CompletionMode mode)
    {
        options.Completions = new CompletionOptions
        {
            Inline = mode == CompletionMode.Inline,
            BusyPoll = mode == CompletionMode.BusyPoll,
        };
        return options;
    }
}

/// <summary>
/// Busy-polling sessions keep a core spinning for as long as they live: their suites run alone, after the parallel
/// ones, so they never starve other tests' targets and peers of CPU on a small machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BusyPollCollection
{
    public const string Name = "Busy-polling initiator (runs alone)";
}
