using System.Collections.Concurrent;
using Iser.Core.Datamover;

namespace Iser.Tests.Transport.InMemory;

/// <summary>
/// One in-memory connection: an initiator end and a target end that hand each other copies of PDUs, plus the buffers
/// the initiator registered per command, where the target places read data and fetches write data directly (as iSER's
/// RDMA does). A test breaks it with <see cref="Kill"/>, which behaves like a pulled cable: both ends fail at once and
/// PDUs not yet received are lost.
/// </summary>
public sealed class InMemoryConnection
{
    private readonly ConcurrentDictionary<uint, InMemoryBufferRegistration> _registrations = new();
    private int _nextKey;

    internal InMemoryConnection(string portal, int number)
    {
        Name = $"{portal}#{number}";
        Initiator = new InMemoryInitiatorDatamover(this, localEndPoint: Name, remoteEndPoint: portal);
        Target = new InMemoryTargetDatamover(this, localEndPoint: portal, remoteEndPoint: Name);
        Initiator.Peer = Target;
        Target.Peer = Initiator;
    }

    /// <summary>"memory:port#n": the portal and the connection's number on it.</summary>
    public string Name { get; }
    public InMemoryInitiatorDatamover Initiator { get; }
    public InMemoryTargetDatamover Target { get; }

    /// <summary>Either end terminated, or the connection was killed.</summary>
    public bool IsClosed => Initiator.IsClosed || Target.IsClosed;

    /// <summary>Commands whose buffers are registered now (sent and not yet ended at the initiator).</summary>
    public int RegisteredCommands => _registrations.Count;

    /// <summary>Breaks the connection: both ends' receives fail with <paramref name="reason"/>, as do their sends from now on.</summary>
    public void Kill(string reason = "killed by the test")
    {
        var error = new DatamoverException($"The in-memory connection {Name} broke: {reason}.");
        Initiator.Break(error);
        Target.Break(error);
    }

    internal uint NewRegistrationKey()
    {
        uint key;
        do key = (uint)Interlocked.Increment(ref _nextKey); while (key == 0); // 0 means "no registration"
        return key;
    }

    internal void AddRegistration(uint key, InMemoryBufferRegistration registration) => _registrations[key] = registration;

    internal void RemoveRegistration(uint key) => _registrations.TryRemove(key, out _);

    internal InMemoryBufferRegistration? FindRegistration(uint key) => _registrations.TryGetValue(key, out var r) ? r : null;

    public override string ToString() => Name;
}
