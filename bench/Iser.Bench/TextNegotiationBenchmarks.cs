using BenchmarkDotNet.Attributes;
using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;

namespace Iser.Bench;

/// <summary>
/// Login-time text: the key=value codec over the operational-stage Login Request our initiator really sends (captured
/// from InitiatorLoginNegotiator in the setup), the target's per-key answers through KeyNegotiation.Respond, and a
/// whole login (InitiatorLoginNegotiator against TargetLoginNegotiator, frames passed in memory, no network, no CHAP)
/// for a TCP and an iSER connection. These run once per connection, not per PDU; they allocate by design (strings,
/// lists, dictionaries).
/// </summary>
[MemoryDiagnoser]
public class TextNegotiationBenchmarks
{
    private const string InitiatorIqn = "iqn.2026-11.org.example:host1";
    private const string TargetIqn = "iqn.2026-11.org.example:disk1";

    private readonly OperationalLimits _targetLimits = new() { MaxRecvDataSegmentLength = 262144, MaxBurstLength = 1048576, HeaderDigest = "CRC32C,None" };
    private byte[] _operationalText = [];
    private List<TextKeyValue> _operationalPairs = [];
    private (KeyDefinition Definition, string Offered, string Local)[] _offers = [];

    [GlobalSetup]
    public void Setup()
    {
        // The largest request text of a real login is the operational stage's offers (the first request holds the names).
        var initiator = new InitiatorLoginNegotiator(Options(iser: false));
        var target = new TargetLoginNegotiator(Policy(iser: false));
        LoginRequestFrame? request = initiator.FirstRequest();
        while (request is { } r)
        {
            if (r.TextData.Length > _operationalText.Length) _operationalText = r.TextData.ToArray();
            request = initiator.Process(target.Process(r));
        }
        if (!initiator.IsComplete) throw new InvalidOperationException($"setup login failed: {initiator.FailureReason}");
        _operationalPairs = TextKeyValueCodec.Parse(_operationalText);
        _offers = _operationalPairs
            .Where(p => KeyTable.TryGet(p.Key, out _) && _targetLimits.ValueOf(p.Key) is not null)
            .Select(p => (KeyTable.Get(p.Key), p.Value, _targetLimits.ValueOf(p.Key)!))
            .ToArray();
        Console.WriteLine($"// operational Login Request text: {_operationalText.Length} bytes, {_operationalPairs.Count} keys, {_offers.Length} answered by KeyNegotiation.Respond");
    }

    private static InitiatorLoginOptions Options(bool iser) => new()
    {
        InitiatorName = InitiatorIqn,
        TargetName = TargetIqn,
        Iser = iser,
        MaxRecvDataSegmentLength = 262144,
        HeaderDigest = "None",
    };

    private TargetLoginPolicy Policy(bool iser) => new()
    {
        Limits = _targetLimits,
        IsIserConnection = iser,
        LookupTarget = request => request.TargetName == TargetIqn ? TargetLookupResult.Found("disk one") : TargetLookupResult.NotFound,
    };

    [Benchmark]
    public int ParseLoginKeys() => TextKeyValueCodec.Parse(_operationalText).Count;

    [Benchmark]
    public int EncodeLoginKeys() => TextKeyValueCodec.Encode(_operationalPairs).Length;

    /// <summary>What the target answers to each operational offer (the RFC 7143 §6.2 result functions only).</summary>
    [Benchmark]
    public int RespondToLoginKeys()
    {
        int n = 0;
        foreach (var (definition, offered, local) in _offers)
            n += KeyNegotiation.Respond(definition, offered, local).Answer?.Length ?? 0;
        return n;
    }

    [Benchmark]
    public bool FullLoginTcp() => RunLogin(iser: false);

    [Benchmark]
    public bool FullLoginIser() => RunLogin(iser: true);

    private bool RunLogin(bool iser)
    {
        var initiator = new InitiatorLoginNegotiator(Options(iser));
        var target = new TargetLoginNegotiator(Policy(iser));
        LoginRequestFrame? request = initiator.FirstRequest();
        while (request is { } r) request = initiator.Process(target.Process(r));
        if (!initiator.IsComplete || !target.IsComplete) throw new InvalidOperationException($"login failed: {initiator.FailureReason ?? target.FailureReason}");
        return initiator.IsComplete;
    }
}
