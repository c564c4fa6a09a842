namespace Iser.Tests.Peers;

/// <summary>
/// The iscsi-test-cu runs share one xunit collection so they run one after another: each suite run keeps a target
/// and libiscsi busy for tens of seconds with short command timeouts, and several at once on a 2-core machine
/// time each other out.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ConformanceCollection
{
    public const string Name = "iscsi-test-cu runs";
}
