using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Datamover;

/// <summary>
/// Push delivery for a datamover that only offers the pull form (<see cref="IDatamoverConnection.ReceiveControlAsync"/>):
/// an async loop that hands each PDU to the receiver on the thread its receive completed on.
/// </summary>
public static class ReceivePump
{
    /// <summary>Starts the loop on the thread pool and returns at once.</summary>
    public static void Start(IDatamoverConnection connection, IPduReceiver receiver) =>
        ThreadPool.UnsafeQueueUserWorkItem(static state => _ = RunAsync(state.connection, state.receiver), (connection, receiver), preferLocal: false);

    private static async Task RunAsync(IDatamoverConnection connection, IPduReceiver receiver)
    {
        Exception? error = null;
        try
        {
            while (await connection.ReceiveControlAsync().ConfigureAwait(false) is { } pdu)
                receiver.OnPduReceived(pdu);
        }
        catch (Exception e)
        {
            error = e;
        }
        receiver.OnReceiveEnded(error);
    }
}
