using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;

namespace Iser.Tests.ScsiTarget;

/// <summary>
/// TEST-ONLY: the least iSCSI/TCP (RFC 7143) needed to put one logical unit in front of libiscsi's
/// iscsi-test-cu, so the LU can be checked against that external conformance suite before the real target
/// exists. Not the project's target: no digests, no authentication, InitialR2T=Yes, one connection per session,
/// data PDUs never collapsed with status, minimal error handling.
/// </summary>
internal sealed class LoopbackIscsiResponder : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ILogicalUnit _lu;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public LoopbackIscsiResponder(ILogicalUnit lu)
    {
        _lu = lu;
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                client.NoDelay = true;
                _ = Task.Run(() => new Connection(client, _lu).RunAsync());
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
    }

    private sealed class Connection(TcpClient client, ILogicalUnit lu)
    {
        private readonly NetworkStream _stream = client.GetStream();
        private readonly SemaphoreSlim _sendLock = new(1, 1);
        private readonly Dictionary<uint, Command> _commands = new();
        private readonly object _sequenceGate = new();
        private uint _statSn, _expCmdSn, _nextTtt;
        private int _peerMaxRecvDataSegment = 8192;

        public ILogicalUnit Lu => lu;
        public int PeerMaxRecvDataSegment => _peerMaxRecvDataSegment;
        public uint NextTransferTag() => Interlocked.Increment(ref _nextTtt);

        public async Task RunAsync()
        {
            using var connection = client;
            try
            {
                while (true)
                {
                    var (bhs, data) = await ReadPduAsync();
                    int opcode = bhs[0] & 0x3F;
                    bool immediate = (bhs[0] & 0x40) != 0;
                    uint itt = BinaryPrimitives.ReadUInt32BigEndian(bhs.AsSpan(16));
                    if (!immediate && opcode is 0x01 or 0x02 or 0x04 or 0x06)
                        lock (_sequenceGate) _expCmdSn = BinaryPrimitives.ReadUInt32BigEndian(bhs.AsSpan(24)) + 1;
                    switch (opcode)
                    {
                        case 0x03: await LoginAsync(bhs, data); break;
                        case 0x01:
                        {
                            var command = new Command(this, bhs, data);
                            lock (_commands) _commands[itt] = command;
                            _ = Task.Run(command.RunAsync);
                            break;
                        }
                        case 0x05:
                        {
                            Command? command;
                            lock (_commands) _commands.TryGetValue(itt, out command);
                            command?.AcceptDataOut(bhs, data);
                            break;
                        }
                        case 0x00 when itt != 0xFFFFFFFF: // NOP-Out wanting a NOP-In
                        {
                            var reply = Header(0x20, 0x80, itt);
                            Array.Copy(bhs, 8, reply, 8, 8);
                            BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(20), 0xFFFFFFFF);
                            await SendAsync(reply, data, advanceStatSn: true);
                            break;
                        }
                        case 0x00: break;
                        case 0x02: await SendAsync(Header(0x22, 0x80, itt), [], advanceStatSn: true); break; // TMF: "function complete"
                        case 0x06:
                            await SendAsync(Header(0x26, 0x80, itt), [], advanceStatSn: true);
                            return;
                        default:
                        {
                            var reject = Header(0x3F, 0x80, 0xFFFFFFFF);
                            reject[2] = 0x04; // command not supported
                            await SendAsync(reject, bhs, advanceStatSn: true);
                            break;
                        }
                    }
                }
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException or SocketException) { }
        }

        private async Task LoginAsync(byte[] bhs, byte[] data)
        {
            int currentStage = (bhs[1] >> 2) & 3, nextStage = bhs[1] & 3;
            bool transit = (bhs[1] & 0x80) != 0;
            var reply = new StringBuilder();
            foreach (var pair in Encoding.ASCII.GetString(data).Split('\0', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split('=', 2);
                string key = kv[0], value = kv.Length > 1 ? kv[1] : "";
                switch (key)
                {
                    case "InitiatorName" or "SessionType" or "TargetName" or "InitiatorAlias": break;
                    case "AuthMethod": reply.Append("AuthMethod=None\0"); break;
                    case "HeaderDigest" or "DataDigest": reply.Append(key).Append("=None\0"); break;
                    case "MaxRecvDataSegmentLength": _peerMaxRecvDataSegment = int.Parse(value); break;
                    case "InitialR2T": reply.Append("InitialR2T=Yes\0"); break;
                    case "MaxConnections": reply.Append("MaxConnections=1\0"); break;
                    case "ErrorRecoveryLevel": reply.Append("ErrorRecoveryLevel=0\0"); break;
                    default: reply.Append(key).Append('=').Append(value).Append('\0'); break;
                }
            }
            if (currentStage == 1) reply.Append("MaxRecvDataSegmentLength=262144\0");
            if (currentStage == 0) reply.Append("TargetPortalGroupTag=1\0");
            var response = new byte[48];
            response[0] = 0x23;
            response[1] = (byte)((transit ? 0x80 | nextStage : 0) | (currentStage << 2));
            Array.Copy(bhs, 8, response, 8, 6);
            if (transit && nextStage == 3) BinaryPrimitives.WriteUInt16BigEndian(response.AsSpan(14), 1); // TSIH
            Array.Copy(bhs, 16, response, 16, 4);
            lock (_sequenceGate) _expCmdSn = BinaryPrimitives.ReadUInt32BigEndian(bhs.AsSpan(24));
            await SendAsync(response, Encoding.ASCII.GetBytes(reply.ToString()), advanceStatSn: true);
        }

        public static byte[] Header(byte opcode, byte flags, uint itt)
        {
            var h = new byte[48];
            h[0] = opcode;
            h[1] = flags;
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
            return h;
        }

        public async Task SendAsync(byte[] bhs, byte[] data, bool advanceStatSn)
        {
            await _sendLock.WaitAsync();
            try
            {
                lock (_sequenceGate)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(24), advanceStatSn ? _statSn++ : _statSn);
                    BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(28), _expCmdSn);
                    BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(32), _expCmdSn + 64);
                }
                bhs[5] = (byte)(data.Length >> 16);
                bhs[6] = (byte)(data.Length >> 8);
                bhs[7] = (byte)data.Length;
                var pdu = new byte[48 + ((data.Length + 3) & ~3)];
                bhs.CopyTo(pdu, 0);
                data.CopyTo(pdu, 48);
                await _stream.WriteAsync(pdu);
            }
            finally { _sendLock.Release(); }
        }

        private async Task<(byte[] Bhs, byte[] Data)> ReadPduAsync()
        {
            var bhs = new byte[48];
            await _stream.ReadExactlyAsync(bhs);
            int ahs = bhs[4] * 4;
            int length = (bhs[5] << 16) | (bhs[6] << 8) | bhs[7];
            if (ahs > 0) await _stream.ReadExactlyAsync(new byte[ahs]);
            var data = new byte[(length + 3) & ~3];
            await _stream.ReadExactlyAsync(data);
            return (bhs, data[..length]);
        }

        public void Forget(uint itt)
        {
            lock (_commands) _commands.Remove(itt);
        }
    }

    /// <summary>One SCSI Command PDU as the LU sees it: immediate data, then R2T-solicited Data-Out.</summary>
    private sealed class Command : IScsiTask
    {
        private const int BurstLength = 262144;
        private readonly Connection _connection;
        private readonly byte[] _bhs;
        private readonly uint _itt;
        private readonly byte[] _dataOut;
        private readonly object _gate = new();
        private int _received;
        private TaskCompletionSource? _waiter;
        private int _waitingFor;
        private byte[]? _dataIn;

        public Command(Connection connection, byte[] bhs, byte[] immediate)
        {
            _connection = connection;
            _bhs = bhs;
            _itt = BinaryPrimitives.ReadUInt32BigEndian(bhs.AsSpan(16));
            int edtl = (int)BinaryPrimitives.ReadUInt32BigEndian(bhs.AsSpan(20));
            ExpectedDataOutLength = (bhs[1] & 0x20) != 0 ? edtl : 0;
            ExpectedDataInLength = (bhs[1] & 0x40) != 0 ? edtl : 0;
            _dataOut = new byte[ExpectedDataOutLength];
            _received = Math.Min(immediate.Length, _dataOut.Length);
            Array.Copy(immediate, _dataOut, _received);
            Cdb = bhs.AsSpan(32, 16).ToArray();
            Lun = bhs[9];
        }

        public ulong Lun { get; }
        public ReadOnlyMemory<byte> Cdb { get; }
        public int ExpectedDataInLength { get; }
        public int ExpectedDataOutLength { get; }

        public void AcceptDataOut(byte[] bhs, byte[] data)
        {
            int offset = (int)BinaryPrimitives.ReadUInt32BigEndian(bhs.AsSpan(40));
            lock (_gate)
            {
                Array.Copy(data, 0, _dataOut, offset, Math.Min(data.Length, _dataOut.Length - offset));
                _received = Math.Max(_received, offset + data.Length);
                if (_waiter is not null && _received >= _waitingFor)
                {
                    _waiter.TrySetResult();
                    _waiter = null;
                }
            }
        }

        public async ValueTask<ReadOnlyMemory<byte>> ReceiveDataOutAsync(int length, CancellationToken cancellationToken)
        {
            TaskCompletionSource? arrival = null;
            int from;
            lock (_gate)
            {
                from = _received;
                if (_received < length)
                {
                    arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _waiter = arrival;
                    _waitingFor = length;
                }
            }
            if (arrival is not null)
            {
                uint r2tSn = 0;
                for (int offset = from; offset < length; offset += BurstLength)
                {
                    var r2t = Connection.Header(0x31, 0x80, _itt);
                    Array.Copy(_bhs, 8, r2t, 8, 8);
                    BinaryPrimitives.WriteUInt32BigEndian(r2t.AsSpan(20), _connection.NextTransferTag());
                    BinaryPrimitives.WriteUInt32BigEndian(r2t.AsSpan(36), r2tSn++);
                    BinaryPrimitives.WriteUInt32BigEndian(r2t.AsSpan(40), (uint)offset);
                    BinaryPrimitives.WriteUInt32BigEndian(r2t.AsSpan(44), (uint)Math.Min(BurstLength, length - offset));
                    await _connection.SendAsync(r2t, [], advanceStatSn: false);
                }
                await arrival.Task.WaitAsync(cancellationToken);
            }
            return _dataOut.AsMemory(0, length);
        }

        public Memory<byte> GetDataInBuffer(int length) => _dataIn = new byte[length];

        public async Task RunAsync()
        {
            var result = await _connection.Lu.ExecuteAsync(this, CancellationToken.None);
            uint dataSn = 0;
            int toSend = Math.Min(result.DataInLength, ExpectedDataInLength);
            if (result.Status == ScsiStatus.Good && toSend > 0 && _dataIn is not null)
            {
                int segment = _connection.PeerMaxRecvDataSegment;
                for (int offset = 0; offset < toSend; offset += segment)
                {
                    int n = Math.Min(segment, toSend - offset);
                    var dataIn = Connection.Header(0x25, (byte)(offset + n >= toSend ? 0x80 : 0), _itt);
                    BinaryPrimitives.WriteUInt32BigEndian(dataIn.AsSpan(20), 0xFFFFFFFF);
                    BinaryPrimitives.WriteUInt32BigEndian(dataIn.AsSpan(36), dataSn++);
                    BinaryPrimitives.WriteUInt32BigEndian(dataIn.AsSpan(40), (uint)offset);
                    await _connection.SendAsync(dataIn, _dataIn.AsSpan(offset, n).ToArray(), advanceStatSn: false);
                }
            }
            var response = Connection.Header(0x21, 0x80, _itt);
            response[3] = (byte)result.Status;
            // Residuals (RFC 7143 §11.4.5) against the length the command itself called for.
            int edtl = (int)BinaryPrimitives.ReadUInt32BigEndian(_bhs.AsSpan(20));
            int called = ExpectedDataInLength > 0 ? result.DataInLength
                : ExpectedDataOutLength > 0 ? result.DataOutLength
                : Math.Max(result.DataInLength, result.DataOutLength);
            if (result.Status == ScsiStatus.Good || called > 0)
            {
                if (called > edtl) { response[1] |= 0x04; BinaryPrimitives.WriteUInt32BigEndian(response.AsSpan(44), (uint)(called - edtl)); }
                else if (called < edtl) { response[1] |= 0x02; BinaryPrimitives.WriteUInt32BigEndian(response.AsSpan(44), (uint)(edtl - called)); }
            }
            BinaryPrimitives.WriteUInt32BigEndian(response.AsSpan(36), dataSn);
            byte[] senseSegment = [];
            if (!result.Sense.IsEmpty)
            {
                senseSegment = new byte[2 + result.Sense.Length];
                BinaryPrimitives.WriteUInt16BigEndian(senseSegment, (ushort)result.Sense.Length);
                result.Sense.Span.CopyTo(senseSegment.AsSpan(2));
            }
            _connection.Forget(_itt);
            await _connection.SendAsync(response, senseSegment, advanceStatSn: true);
        }
    }
}
