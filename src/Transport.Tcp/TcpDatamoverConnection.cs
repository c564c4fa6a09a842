using System.Net.Sockets;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Microsoft.Extensions.Logging;

namespace Iser.Transport.Tcp;

/// <summary>What both TCP roles share: the socket, its reader and writer, and the negotiated values.</summary>
public abstract class TcpDatamoverConnection : IDatamoverConnection
{
    private protected readonly Socket Socket;
    private protected readonly TcpPduReader Reader;
    private protected readonly TcpPduWriter Writer;
    private protected readonly ILogger Logger;
    private protected ConnectionParameters Parameters = new();
    private protected volatile bool FullFeature;
    private int _terminated;

    private protected TcpDatamoverConnection(Socket socket, ILogger logger)
    {
        Socket = socket;
        Logger = logger;
        socket.NoDelay = true;
        LocalEndPoint = socket.LocalEndPoint?.ToString() ?? "?";
        RemoteEndPoint = socket.RemoteEndPoint?.ToString() ?? "?";
        Reader = new TcpPduReader(socket);
        Writer = new TcpPduWriter(socket, logger);
    }

    public string TransportName => "tcp";
    public string LocalEndPoint { get; }
    public string RemoteEndPoint { get; }
    public bool PlacesDataDirectly => false;
    public ConnectionParameters CurrentParameters => Parameters;

    /// <summary>Max data segment we accept; during login the RFC default of 8192 applies.</summary>
    private protected int ReceiveLimit => FullFeature ? Parameters.MaxRecvDataSegmentLength : Math.Max(8192, Parameters.MaxRecvDataSegmentLength);

    public ValueTask SendControlAsync(Pdu pdu, CancellationToken cancellationToken = default)
    {
        Writer.Enqueue(pdu);
        return ValueTask.CompletedTask;
    }

    public abstract ValueTask<Pdu?> ReceiveControlAsync(CancellationToken cancellationToken = default);

    public void NoticeKeyValues(ConnectionParameters parameters) => Parameters = parameters;

    public virtual void EnableDatamover(IDatamoverHost host)
    {
        // Digests start with the first PDU after the final login response (RFC 7143 §13.1).
        Writer.Host = host;
        Writer.HeaderDigest = Reader.HeaderDigest = Parameters.HeaderDigest;
        Writer.DataDigest = Reader.DataDigest = Parameters.DataDigest;
        FullFeature = true;
    }

    public async ValueTask TerminateAsync(string reason)
    {
        if (Interlocked.Exchange(ref _terminated, 1) != 0) return;
        Logger.LogDebug("Terminating TCP connection {Remote}: {Reason}", RemoteEndPoint, reason);
        OnTerminating(new DatamoverException($"Connection terminated: {reason}"));
        try
        {
            var drain = Writer.CompleteAsync();
            await Task.WhenAny(drain, Task.Delay(2000)).ConfigureAwait(false);
            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        Socket.Dispose();
    }

    private protected virtual void OnTerminating(Exception reason) { }

    public async ValueTask DisposeAsync()
    {
        await TerminateAsync("disposed").ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
