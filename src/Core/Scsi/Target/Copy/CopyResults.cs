using System.Collections.Concurrent;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Scsi.Target.Copy;

/// <summary>
/// The outcome of EXTENDED COPY commands whose LIST ID USAGE asks to keep it, per I_T nexus and list identifier, for
/// RECEIVE COPY RESULTS (COPY STATUS) (SPC-4 §6.18.3). A result is kept until the nexus asks for it, a new copy with
/// the same list identifier replaces it, or the nexus ends.
/// </summary>
public sealed class CopyResults
{
    /// <summary>COPY MANAGER STATUS: 01h completed without errors, 02h completed with errors.</summary>
    public readonly record struct Status(bool Failed, int SegmentsProcessed, long BytesTransferred);

    private readonly ConcurrentDictionary<(ItNexus Nexus, byte ListId), Status> _results = new();

    public void Record(in ItNexus nexus, byte listId, Status status) => _results[(nexus, listId)] = status;

    /// <summary>The kept result of <paramref name="listId"/>, taken (reported once); null when there is none.</summary>
    public Status? Take(in ItNexus nexus, byte listId) => _results.TryRemove((nexus, listId), out var s) ? s : null;

    public void Forget(in ItNexus nexus)
    {
        foreach (var key in _results.Keys)
            if (key.Nexus.Equals(nexus)) _results.TryRemove(key, out _);
    }
}
