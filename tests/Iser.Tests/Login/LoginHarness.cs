using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Login;

/// <summary>Drives an initiator negotiator against a target negotiator, recording every request/response pair.</summary>
internal static class LoginHarness
{
    public sealed record Exchange(LoginRequestFrame Request, LoginResponseFrame Response);

    public const string InitiatorIqn = "iqn.2026-11.org.example:host1";
    public const string TargetIqn = "iqn.2026-11.org.example:disk1";

    public static List<Exchange> Run(InitiatorLoginNegotiator initiator, TargetLoginNegotiator target)
    {
        var exchanges = new List<Exchange>();
        LoginRequestFrame? request = initiator.FirstRequest();
        while (request is { } r)
        {
            var response = target.Process(r);
            exchanges.Add(new Exchange(r, response));
            Assert.True(exchanges.Count < 40, "the login did not converge");
            request = initiator.Process(response);
        }
        return exchanges;
    }

    public static Dictionary<string, string> Keys(ReadOnlyMemory<byte> text) =>
        TextKeyValueCodec.Parse(text.Span).ToDictionary(p => p.Key, p => p.Value);

    public static TargetLoginPolicy Policy(OperationalLimits? limits = null, ChapCredentials? initiatorChap = null,
        ChapCredentials? targetChap = null, bool iser = false, int loginSegment = 8192, IReadOnlyList<ChapAlgorithm>? chapAlgorithms = null) => new()
    {
        Limits = limits ?? new OperationalLimits(),
        IsIserConnection = iser,
        LoginMaxSegmentLength = loginSegment,
        LookupTarget = request => request.TargetName is null or TargetIqn
            ? new TargetLookupResult
            {
                Outcome = TargetLookupOutcome.Found, TargetAlias = "disk one", InitiatorCredentials = initiatorChap, TargetCredentials = targetChap,
                ChapAlgorithms = chapAlgorithms,
            }
            : TargetLookupResult.NotFound,
    };

    public static InitiatorLoginOptions Options(ChapCredentials? chap = null, ChapCredentials? mutual = null, bool iser = false,
        string? targetName = TargetIqn, IReadOnlyList<ChapAlgorithm>? chapAlgorithms = null) => new()
    {
        InitiatorName = InitiatorIqn,
        TargetName = targetName,
        Chap = chap,
        MutualChap = mutual,
        Iser = iser,
        ChapAlgorithms = chapAlgorithms,
    };

    /// <summary>A hand-made login request for driving the target directly.</summary>
    public static LoginRequestFrame Request(LoginStage csg, bool transit, LoginStage nsg, params string[] pairs) =>
        RequestWith(csg, transit, nsg, cont: false, pairs);

    public static LoginRequestFrame RequestWith(LoginStage csg, bool transit, LoginStage nsg, bool cont, params string[] pairs)
    {
        var text = TextKeyValueCodec.Encode(pairs.Select(p =>
        {
            int eq = p.IndexOf('=');
            return new TextKeyValue(p[..eq], p[(eq + 1)..]);
        }));
        return new LoginRequestFrame(transit, cont, csg, transit ? nsg : csg, 0, 0, 0x23d000001, 0, 0, 0, text);
    }
}
