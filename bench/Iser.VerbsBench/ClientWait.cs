namespace Iser.VerbsBench;

/// <summary>How the client learns of completions.</summary>
internal enum ClientWait
{
    /// <summary>Busy-polls its CQ.</summary>
    Polls = 0,

    /// <summary>Polls the CQ empty, arms it, polls once more, then sleeps on the channel (our initiator).</summary>
    ArmWhenEmpty = 1,

    /// <summary>Sleeps on the channel, re-arms the CQ as soon as an event comes, then polls it empty (libiscsi).</summary>
    EventFirst = 2,
}
