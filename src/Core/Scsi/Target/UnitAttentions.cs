using System.Collections.Concurrent;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Scsi.Target;

/// <summary>
/// The unit attention conditions of one logical unit, per I_T nexus (SAM-5 §5.14, SPC-4 §5.14): events establish them
/// (the target starting, resets, reservation changes, mode changes, a change of the LUN inventory), and each is
/// reported once, oldest first, on the nexus's next command that reports unit attentions (all but INQUIRY, REPORT LUNS
/// and REQUEST SENSE) as CHECK CONDITION, or as REQUEST SENSE data; reporting clears it (UA_INTLCK_CTRL 0).
/// <para>
/// A nexus is known from its first command. At power on (the logical unit created) no nexus exists but those whose
/// registrations were restored from the APTPL state: each of them reports POWER ON, RESET, OR BUS DEVICE RESET
/// OCCURRED on its first command. A nexus that forms later is not told of a start it never saw (as Linux LIO; tgt
/// tells every new nexus, which initiators take as a reset). Conditions for every nexus (a reset) reach those known;
/// conditions for reservation registrants reach the nexuses their pattern covers, including one not yet known. A command
/// of a nexus with nothing pending costs one dictionary read.
/// </para>
/// </summary>
public sealed class UnitAttentions
{
    /// <summary>The most conditions kept for one nexus; beyond it the oldest go (SPC-4 §5.14: a device may drop them).</summary>
    public const int MaxPerNexus = 16;

    private readonly ConcurrentDictionary<ItNexus, Pending> _nexuses = new();
    private readonly object _gate = new();
    // Conditions for reservation registrants (patterns) that are not known yet: taken over when one first appears.
    private readonly List<PrUnitAttention> _forUnknown = new();

    public static readonly SenseCondition PowerOnOrReset = new(0x06, 0x29, 0x00);
    public static readonly SenseCondition BusDeviceResetFunction = new(0x06, 0x29, 0x03);
    public static readonly SenseCondition ModeParametersChanged = new(0x06, 0x2a, 0x01);
    public static readonly SenseCondition AsymmetricAccessStateChanged = new(0x06, 0x2a, 0x06);
    public static readonly SenseCondition CapacityDataChanged = new(0x06, 0x2a, 0x09);
    public static readonly SenseCondition CommandsClearedByAnotherInitiator = new(0x06, 0x2f, 0x00);
    public static readonly SenseCondition ReportedLunsDataChanged = new(0x06, 0x3f, 0x0e);

    /// <summary>Conditions pending for one nexus, oldest first; its own lock.</summary>
    private sealed class Pending
    {
        public readonly List<SenseCondition> Conditions = new();
        public volatile int Count;
    }

    /// <summary>
    /// The condition to report on this command of <paramref name="nexus"/>, taken (cleared), or null. With
    /// <paramref name="peekOnly"/> it stays (INQUIRY and REPORT LUNS neither report nor clear, SPC-4 §5.14).
    /// </summary>
    public SenseCondition? Take(in ItNexus nexus, bool peekOnly = false)
    {
        if (!_nexuses.TryGetValue(nexus, out var pending)) pending = Greet(nexus);
        if (pending.Count == 0) return null;
        lock (pending)
        {
            if (pending.Conditions.Count == 0) return null;
            var condition = pending.Conditions[0];
            if (!peekOnly)
            {
                pending.Conditions.RemoveAt(0);
                pending.Count = pending.Conditions.Count;
            }
            return condition;
        }
    }

    /// <summary>Clears one kind of condition for a nexus without reporting it (REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED).</summary>
    public void Clear(in ItNexus nexus, SenseCondition condition)
    {
        if (!_nexuses.TryGetValue(nexus, out var pending) || pending.Count == 0) return;
        lock (pending)
        {
            pending.Conditions.RemoveAll(c => c == condition);
            pending.Count = pending.Conditions.Count;
        }
    }

    /// <summary>A first command from <paramref name="nexus"/>: it is known from now on, with the power-on condition.</summary>
    private Pending Greet(in ItNexus nexus)
    {
        lock (_gate)
        {
            if (_nexuses.TryGetValue(nexus, out var existing)) return existing;
            var pending = new Pending();
            foreach (var ua in _forUnknown)
                if (ua.Reaches(nexus)) pending.Conditions.Add(ua.Condition);
            Trim(pending);
            pending.Count = pending.Conditions.Count;
            _nexuses[nexus] = pending;
            return pending;
        }
    }

    /// <summary>Power on with registrations restored (APTPL): each registrant is told on its first command.</summary>
    public void PowerOn(IEnumerable<ItNexusPattern> restoredRegistrants)
    {
        lock (_gate)
            foreach (var pattern in restoredRegistrants)
                _forUnknown.Add(new PrUnitAttention(pattern, default, PowerOnOrReset));
    }

    /// <summary>Establishes <paramref name="condition"/> for every known nexus but <paramref name="except"/>.</summary>
    public void EstablishForAll(SenseCondition condition, ItNexus? except = null)
    {
        lock (_gate)
            foreach (var (nexus, pending) in _nexuses)
                if (except is not { } e || !nexus.Equals(e)) Add(pending, condition);
    }

    /// <summary>Establishes <paramref name="condition"/> for one nexus (known from now on if it was not).</summary>
    public void Establish(in ItNexus nexus, SenseCondition condition)
    {
        var pending = _nexuses.TryGetValue(nexus, out var p) ? p : Greet(nexus);
        Add(pending, condition);
    }

    /// <summary>What a PERSISTENT RESERVE OUT established for other registrants (SPC-4 §5.13).</summary>
    public void Establish(IEnumerable<PrUnitAttention> unitAttentions)
    {
        lock (_gate)
            foreach (var ua in unitAttentions)
            {
                foreach (var (nexus, pending) in _nexuses)
                    if (ua.Reaches(nexus)) Add(pending, ua.Condition);
                // A registrant that has not sent a command here yet (another target port, a later session) gets it then.
                if (_forUnknown.Count < 256) _forUnknown.Add(ua);
            }
    }

    /// <summary>
    /// The nexus ended: what was pending for it goes with it, and one that forms again later starts afresh (as a new
    /// nexus does, and as Linux LIO does).
    /// </summary>
    public void Forget(in ItNexus nexus)
    {
        lock (_gate) _nexuses.TryRemove(nexus, out _);
    }

    /// <summary>Pending conditions of a nexus (for diagnostics and tests).</summary>
    public IReadOnlyList<SenseCondition> PendingFor(in ItNexus nexus)
    {
        if (!_nexuses.TryGetValue(nexus, out var pending)) return [];
        lock (pending) return [.. pending.Conditions];
    }

    private static void Add(Pending pending, SenseCondition condition)
    {
        lock (pending)
        {
            if (pending.Conditions.Contains(condition)) return; // one of each kind is enough to report
            pending.Conditions.Add(condition);
            Trim(pending);
            pending.Count = pending.Conditions.Count;
        }
    }

    private static void Trim(Pending pending)
    {
        if (pending.Conditions.Count > MaxPerNexus) pending.Conditions.RemoveRange(0, pending.Conditions.Count - MaxPerNexus);
    }
}
