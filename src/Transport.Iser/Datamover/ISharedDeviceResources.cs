namespace Iser.Transport.Iser.Datamover;

/// <summary>
/// The owner of the <see cref="SharedConnectionQueues"/> a connection was built on (a target listener's resources on a
/// device, or the initiators' of the process on a device). Whoever handed a connection its queues counted it as a
/// user; the connection gives that back once its QP is gone, and the last user out frees the queues.
/// </summary>
internal interface ISharedDeviceResources
{
    SharedConnectionQueues Queues { get; }

    /// <summary>A connection is done with the queues (its QP destroyed, or it was never built).</summary>
    void RemoveUser();
}

internal static class SharedDeviceResourcesExtensions
{
    /// <summary>A connection given its queues (a CQ reservation and a use) was not built: both go back.</summary>
    public static void Abandon(this ISharedDeviceResources owner, CompletionWorker worker, int entries)
    {
        worker.Unreserve(entries);
        owner.RemoveUser();
    }
}
