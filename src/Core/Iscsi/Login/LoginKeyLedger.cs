using Iser.Core.Iscsi.Text;

namespace Iser.Core.Iscsi.Login;

/// <summary>
/// Book-keeping of one login's keys, shared by both negotiators: what each side offered or declared, the answers,
/// the results in force, and which keys the peer already sent (RFC 7143 §6.2: a key may not be negotiated twice
/// in one login).
/// </summary>
internal sealed class LoginKeyLedger
{
    private readonly List<NegotiatedKey> _entries = new();
    private readonly Dictionary<(string Key, bool ByPeer), int> _entryIndex = new();
    private readonly Dictionary<string, string> _results = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _ourOffers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _peerDeclared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _ourDeclared = new(StringComparer.Ordinal);
    private readonly HashSet<string> _peerSent = new(StringComparer.Ordinal);
    private readonly HashSet<string> _weSent = new(StringComparer.Ordinal);

    public IReadOnlyList<NegotiatedKey> Entries => _entries;

    /// <summary>Records that the peer sent <paramref name="key"/>; false if it already had (a protocol error).</summary>
    public bool NotePeerSent(string key) => _peerSent.Add(key);

    public bool PeerHasSent(string key) => _peerSent.Contains(key);
    public bool WeHaveSent(string key) => _weSent.Contains(key);

    public IEnumerable<string> PendingOffers => _ourOffers.Keys;
    public bool IsAwaitingAnswer(string key) => _ourOffers.ContainsKey(key);
    public string OurOffer(string key) => _ourOffers[key];

    public void Offered(string key, string value)
    {
        _ourOffers[key] = value;
        _weSent.Add(key);
        Upsert(new NegotiatedKey(key, value, null, value), byPeer: false);
    }

    /// <summary>Our offer was answered (or the answer was implied when <paramref name="answer"/> is null).</summary>
    public void Answered(string key, string? answer, string? result)
    {
        var offered = _ourOffers[key];
        _ourOffers.Remove(key);
        SetResult(key, result);
        Upsert(new NegotiatedKey(key, offered, answer, result ?? "(default)"), byPeer: false);
    }

    /// <summary>The peer offered a key and we answered.</summary>
    public void PeerOffered(string key, string offered, string? ourAnswer, string? result)
    {
        if (ourAnswer is not null) _weSent.Add(key);
        SetResult(key, result);
        Upsert(new NegotiatedKey(key, offered, ourAnswer, result ?? "(default)") { OfferedByPeer = true }, byPeer: true);
    }

    public void DeclaredByUs(string key, string value)
    {
        _ourDeclared[key] = value;
        _weSent.Add(key);
        Upsert(new NegotiatedKey(key, value, null, value), byPeer: false);
    }

    public void DeclaredByPeer(string key, string value)
    {
        _peerDeclared[key] = value;
        Upsert(new NegotiatedKey(key, value, null, value) { OfferedByPeer = true }, byPeer: true);
    }

    public string? PeerDeclared(string key) => _peerDeclared.GetValueOrDefault(key);
    public string? OurDeclared(string key) => _ourDeclared.GetValueOrDefault(key);

    /// <summary>The negotiated value, or the RFC default when the key was not negotiated.</summary>
    public string? Result(string key)
    {
        if (_results.TryGetValue(key, out var value)) return value;
        return KeyTable.TryGet(key, out var definition) ? definition.Default : null;
    }

    public bool IsNegotiated(string key) => _results.ContainsKey(key) || _ourOffers.ContainsKey(key) || _peerSent.Contains(key);

    private void SetResult(string key, string? result)
    {
        if (result is null) _results.Remove(key);
        else _results[key] = result;
    }

    private void Upsert(NegotiatedKey entry, bool byPeer)
    {
        if (_entryIndex.TryGetValue((entry.Name, byPeer), out int index))
            _entries[index] = entry;
        else
        {
            _entryIndex[(entry.Name, byPeer)] = _entries.Count;
            _entries.Add(entry);
        }
    }
}
