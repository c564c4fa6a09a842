using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Transport.FaultInjection;

public enum FaultTarget { Received, Sent }

public enum Fault { Drop, Delay, KillConnection }

/// <summary>One fault: on the <see cref="Nth"/> PDU with <see cref="Opcode"/> going <see cref="Target"/> way (counted over
/// every connection, full feature phase only), once.</summary>
/// <remarks><see cref="Fault.Delay"/> holds a received PDU and delivers it right after the next one, on the same receive
/// thread (reordered, never delivered concurrently); with no next PDU it is never delivered.</remarks>
public sealed record FaultRule(FaultTarget Target, IscsiOpcode Opcode, int Nth, Fault Fault);

/// <summary>The armed rules and what they did; shared by the connections of one <see cref="FaultInjectingTransport"/>.</summary>
public sealed class FaultPlan
{
    private readonly object _gate = new();
    private readonly List<(FaultRule Rule, bool Fired)> _rules = new();
    private readonly Dictionary<(FaultTarget, IscsiOpcode), int> _counts = new();
    private readonly List<string> _log = new();

    public void Add(FaultRule rule)
    {
        lock (_gate) _rules.Add((rule, false));
    }

    /// <summary>How many PDUs with <paramref name="opcode"/> went <paramref name="target"/> way so far: a rule for the
    /// n-th from now has Nth = Seen + n.</summary>
    public int Seen(FaultTarget target, IscsiOpcode opcode)
    {
        lock (_gate) return _counts.GetValueOrDefault((target, opcode));
    }

    public bool Fired(FaultRule rule)
    {
        lock (_gate) return _rules.Any(r => ReferenceEquals(r.Rule, rule) && r.Fired);
    }

    public IReadOnlyList<string> Log { get { lock (_gate) return [.. _log]; } }

    /// <summary>Counts the PDU and returns the rule it fires, if any.</summary>
    internal FaultRule? Pick(FaultTarget target, Pdu pdu)
    {
        lock (_gate)
        {
            int nth = _counts.GetValueOrDefault((target, pdu.Opcode)) + 1;
            _counts[(target, pdu.Opcode)] = nth;
            for (int i = 0; i < _rules.Count; i++)
            {
                var (rule, fired) = _rules[i];
                if (fired || rule.Target != target || rule.Opcode != pdu.Opcode || rule.Nth != nth) continue;
                _rules[i] = (rule, true);
                _log.Add($"{rule.Fault} {target} {pdu.Opcode} #{nth} (ITT 0x{pdu.InitiatorTaskTag:x8})");
                return rule;
            }
            return null;
        }
    }
}
