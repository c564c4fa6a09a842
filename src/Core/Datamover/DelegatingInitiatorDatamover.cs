using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Datamover;

/// <summary>
/// An initiator datamover that passes every call to another one: the base for wrappers that watch or change a few
/// calls (a login observer, a test's probe). Every member forwards, <see cref="StartReceiving"/> included, so a wrapper
/// never drops a connection back to pull delivery by forgetting one.
/// </summary>
public abstract class DelegatingInitiatorDatamover(IInitiatorDatamover inner) : IInitiatorDatamover
{
    protected IInitiatorDatamover Inner { get; } = inner;

    public virtual string TransportName => Inner.TransportName;
    public virtual string LocalEndPoint => Inner.LocalEndPoint;
    public virtual string RemoteEndPoint => Inner.RemoteEndPoint;
    public virtual bool PlacesDataDirectly => Inner.PlacesDataDirectly;

    public virtual ValueTask SendCommandAsync(DataTask task, Pdu command, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer,
        CancellationToken cancellationToken = default) => Inner.SendCommandAsync(task, command, readBuffer, writeBuffer, cancellationToken);

    public virtual void EndTask(DataTask task) => Inner.EndTask(task);
    // The recovery calls have defaults on the interface ("cannot"): a wrapper must forward them, or wrapping a TCP
    // datamover would quietly turn ERL 1 retries and ERL 2 reassignment off.
    public virtual ValueTask<bool> RetryCommandAsync(DataTask task, Pdu command) => Inner.RetryCommandAsync(task, command);
    public virtual bool AdoptTask(DataTask task, Memory<byte> readBuffer, ReadOnlyMemory<byte> writeBuffer) => Inner.AdoptTask(task, readBuffer, writeBuffer);
    public virtual bool ReportsReceiveIdle => Inner.ReportsReceiveIdle;
    public virtual bool ReceiveIdleIsBounded => Inner.ReceiveIdleIsBounded;
    public virtual void BeginSendBatch() => Inner.BeginSendBatch();
    public virtual void EndSendBatch() => Inner.EndSendBatch();
    public virtual void FlushSends() => Inner.FlushSends();
    public virtual ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default) => Inner.SendControlAsync(pdu, cancellationToken);
    public virtual ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default) => Inner.ReceiveControlAsync(cancellationToken);
    public virtual void StartReceiving(IPduReceiver receiver, bool busyPoll = false) => Inner.StartReceiving(receiver, busyPoll);
    public virtual void NoticeKeyValues(ConnectionParameters parameters) => Inner.NoticeKeyValues(parameters);
    public virtual void EnableDatamover(IDatamoverHost host) => Inner.EnableDatamover(host);
    public virtual ValueTask TerminateAsync(string reason) => Inner.TerminateAsync(reason);

    public virtual async ValueTask DisposeAsync()
    {
        await Inner.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
