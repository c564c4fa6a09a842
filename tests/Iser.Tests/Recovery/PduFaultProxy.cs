using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Tests.Recovery;

/// <summary>Which way a PDU travels through <see cref="PduFaultProxy"/>.</summary>
public enum Direction { ToTarget, ToInitiator }

/// <summary>What <see cref="PduFaultProxy"/> does to the PDU a <see cref="FaultRule"/> picks.</summary>
public enum FaultAction
{
    /// <summary>The whole PDU is not forwarded; the stream stays framed.</summary>
    Drop,
    /// <summary>One byte of the data segment (not padding, not the digest) is flipped: a data digest error when DataDigest is on.
    /// A PDU without data is forwarded unchanged (the log says so).</summary>
    CorruptData,
    /// <summary>The low byte of the ITT (BHS byte 19) is flipped: framing intact, a header digest error when HeaderDigest is on.</summary>
    CorruptHeader,
    /// <summary>Forwarded after <see cref="FaultRule.Delay"/>; later PDUs in the same direction wait behind it.</summary>
    Delay,
    /// <summary>Held back and sent right after the next PDU forwarded in the same direction (at the latest when that side's stream ends).</summary>
    HoldForReorder,
    /// <summary>Both sockets of that relayed connection are reset (linger 0) instead of forwarding the PDU.</summary>
    KillConnection,
}

/// <summary>
/// Acts once on the <paramref name="Nth"/> (1-based) full-feature PDU with <paramref name="Opcode"/> travelling in
/// <paramref name="Direction"/>, counted across all relayed connections from the moment the rule is added
/// (a rule added before any traffic counts over the proxy's life). With <see cref="Match"/> only PDUs whose
/// 48-byte BHS it accepts are counted (e.g. a Data-In with the S bit: <c>bhs => (bhs.Span[1] &amp; 0x01) != 0</c>).
/// </summary>
public sealed record FaultRule(Direction Direction, IscsiOpcode Opcode, int Nth, FaultAction Action, TimeSpan Delay = default)
{
    public Func<ReadOnlyMemory<byte>, bool>? Match { get; init; }
}

/// <summary>
/// A loopback TCP relay between an initiator and a target (like <see cref="Initiator.FaultProxy"/>) that frames the
/// iSCSI PDU stream in both directions (RFC 7143 §11.2: BHS, AHS, header digest, padded data, data digest) and
/// applies <see cref="FaultRule"/>s to chosen PDUs. Digests are tracked per connection from the login: the values
/// the target answered for HeaderDigest/DataDigest take effect with the first PDU after the final Login Response
/// (T=1, NSG=3, status class 0). Every digest of the full feature phase is checked as received
/// (<see cref="DigestsChecked"/>, <see cref="DigestErrors"/>), which proves the framing followed the stream.
/// </summary>
public sealed class PduFaultProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private readonly List<Relay> _relays = new();
    private readonly List<Task> _tasks = new();
    private readonly List<RuleState> _rules = new();
    private readonly List<string> _log = new();
    private readonly Dictionary<(Direction, IscsiOpcode), int> _counts = new();
    private readonly Dictionary<(int Relay, Direction, IscsiOpcode), int> _countsByConnection = new();
    private readonly Task _acceptLoop;
    private int _accepted, _digestsChecked, _digestErrors;

    public PduFaultProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }
    public int AcceptedConnections => Volatile.Read(ref _accepted);
    /// <summary>Header and data digests checked as they arrived at the proxy (full feature phase).</summary>
    public int DigestsChecked => Volatile.Read(ref _digestsChecked);
    /// <summary>Digests that did not match as they arrived (before the proxy corrupted anything): zero on a clean link.</summary>
    public int DigestErrors => Volatile.Read(ref _digestErrors);

    /// <summary>What happened, in order: connections, negotiated digests, every rule that fired and on which PDU.</summary>
    public IReadOnlyList<string> Log
    {
        get { lock (_gate) return _log.ToArray(); }
    }

    /// <summary>Arms <paramref name="rule"/>; it fires once.</summary>
    public void Add(FaultRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentOutOfRangeException.ThrowIfLessThan(rule.Nth, 1);
        lock (_gate) _rules.Add(new RuleState(rule));
    }

    /// <summary>How many times <paramref name="rule"/> (this instance) fired: 0 or 1.</summary>
    public int Fired(FaultRule rule)
    {
        lock (_gate) return _rules.Where(r => ReferenceEquals(r.Rule, rule)).Sum(r => r.Fired ? 1 : 0);
    }

    /// <summary>Full-feature PDUs with <paramref name="opcode"/> that reached the proxy in <paramref name="direction"/> so far,
    /// over all connections (dropped ones included).</summary>
    public int Count(Direction direction, IscsiOpcode opcode)
    {
        lock (_gate) return _counts.GetValueOrDefault((direction, opcode));
    }

    /// <summary>The same as <see cref="Count"/>, per relayed connection in the order they were accepted.</summary>
    public int[] CountPerConnection(Direction direction, IscsiOpcode opcode)
    {
        lock (_gate)
        {
            var relays = _relays.Select(r => r.Id).Order().ToArray();
            return [.. relays.Select(id => _countsByConnection.GetValueOrDefault((id, direction, opcode)))];
        }
    }

    /// <summary>Resets one relayed connection (the <paramref name="index"/>-th accepted, from 0).</summary>
    public void KillConnection(int index)
    {
        Relay relay;
        lock (_gate) relay = _relays.OrderBy(r => r.Id).ElementAt(index);
        relay.Kill();
    }

    /// <summary>Resets every relayed connection (linger 0 on both sides).</summary>
    public void KillConnections()
    {
        Relay[] relays;
        lock (_gate) relays = _relays.ToArray();
        foreach (var relay in relays) relay.Kill();
    }

    private void Note(string line)
    {
        lock (_gate) _log.Add(line);
    }

    private async Task AcceptLoopAsync()
    {
        int id = 0;
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token); }
            catch { return; }
            Interlocked.Increment(ref _accepted);
            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                client.NoDelay = true;
                upstream.NoDelay = true;
                await upstream.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _targetPort), _stop.Token);
            }
            catch (Exception e)
            {
                Note($"connection {id + 1}: could not reach the target at port {_targetPort}: {e.Message}");
                client.Dispose();
                upstream.Dispose();
                continue;
            }
            var relay = new Relay(++id, client, upstream);
            lock (_gate)
            {
                if (_stop.IsCancellationRequested)
                {
                    relay.Kill();
                    return;
                }
                _relays.Add(relay);
                _log.Add($"connection {relay.Id}: accepted");
                _tasks.Add(RunAsync(relay));
            }
        }
    }

    private async Task RunAsync(Relay relay)
    {
        await Task.WhenAll(
            Task.Run(() => PumpAsync(relay, relay.Client, relay.Upstream, Direction.ToTarget)),
            Task.Run(() => PumpAsync(relay, relay.Upstream, relay.Client, Direction.ToInitiator)));
        relay.Client.Dispose();
        relay.Upstream.Dispose();
        lock (_gate)
        {
            _relays.Remove(relay);
            _log.Add($"connection {relay.Id}: {(relay.Killed ? "reset" : "closed")}");
        }
    }

    private async Task PumpAsync(Relay relay, Socket from, Socket to, Direction direction)
    {
        var input = new BufferedStream(new NetworkStream(from, ownsSocket: false), 64 * 1024);
        var output = new NetworkStream(to, ownsSocket: false);
        var bhs = new byte[Pdu.BhsLength];
        var loginText = new List<byte>();
        string headerDigest = "None", dataDigest = "None";
        (byte[] Buffer, int Length, string What)? held = null;
        var ct = _stop.Token;
        try
        {
            while (true)
            {
                int got = await input.ReadAtLeastAsync(bhs, bhs.Length, throwOnEndOfStream: false, ct);
                if (got < bhs.Length)
                {
                    if (got > 0) await output.WriteAsync(bhs.AsMemory(0, got), ct); // a torn tail passes as it came
                    break;
                }
                bool fullFeature = relay.FullFeature; // set before the final Login Response is forwarded, so before any full-feature PDU exists
                bool hd = fullFeature && relay.HeaderDigest, dd = fullFeature && relay.DataDigest;
                int ahsLength = bhs[4] * 4;
                int dataLength = bhs[5] << 16 | bhs[6] << 8 | bhs[7];
                int headerLength = Pdu.BhsLength + ahsLength + (hd ? 4 : 0);
                int dataStart = headerLength;
                int total = headerLength + (dataLength == 0 ? 0 : PduWireFormat.Pad(dataLength) + (dd ? 4 : 0));
                byte[] pdu = ArrayPool<byte>.Shared.Rent(total);
                bool handedOver = false;
                try
                {
                    bhs.CopyTo(pdu, 0);
                    got = await input.ReadAtLeastAsync(pdu.AsMemory(Pdu.BhsLength, total - Pdu.BhsLength), total - Pdu.BhsLength, throwOnEndOfStream: false, ct);
                    if (got < total - Pdu.BhsLength)
                    {
                        await output.WriteAsync(pdu.AsMemory(0, Pdu.BhsLength + got), ct);
                        break;
                    }
                    var opcode = (IscsiOpcode)(bhs[0] & 0x3f);
                    if (!fullFeature)
                    {
                        if (direction == Direction.ToInitiator && opcode == IscsiOpcode.LoginResponse)
                        {
                            loginText.AddRange(pdu.AsSpan(dataStart, dataLength));
                            if ((bhs[1] & 0x40) == 0) // C bit clear: the text is complete
                            {
                                foreach (var (key, value) in ParseText(loginText))
                                {
                                    if (key == "HeaderDigest") headerDigest = value;
                                    else if (key == "DataDigest") dataDigest = value;
                                }
                                loginText.Clear();
                            }
                            if ((bhs[1] & 0x80) != 0 && (bhs[1] & 0x03) == 3 && bhs[36] == 0)
                            {
                                relay.HeaderDigest = headerDigest == "CRC32C";
                                relay.DataDigest = dataDigest == "CRC32C";
                                relay.FullFeature = true;
                                Note($"connection {relay.Id}: full feature phase, HeaderDigest={headerDigest} DataDigest={dataDigest}");
                            }
                        }
                        await output.WriteAsync(pdu.AsMemory(0, total), ct);
                        continue;
                    }

                    CheckDigests(pdu, headerLength, dataStart, dataLength, hd, dd);
                    var (rule, nth) = Pick(relay.Id, direction, opcode, pdu.AsMemory(0, Pdu.BhsLength));
                    string what = Describe(direction, opcode, nth, pdu);
                    switch (rule?.Action)
                    {
                        case null:
                            break;
                        case FaultAction.Drop:
                            Note($"dropped {what}");
                            continue;
                        case FaultAction.CorruptData:
                            if (dataLength == 0)
                            {
                                Note($"CorruptData: {what} has no data segment, forwarded unchanged");
                                break;
                            }
                            int at = dataStart + dataLength / 2;
                            pdu[at] ^= 0xff;
                            Note($"corrupted data byte {dataLength / 2} of {dataLength} in {what}");
                            break;
                        case FaultAction.CorruptHeader:
                            pdu[19] ^= 0xff;
                            Note($"corrupted header byte 19 (ITT) of {what}");
                            break;
                        case FaultAction.Delay:
                            Note($"delaying {what} by {rule.Delay.TotalMilliseconds:0} ms");
                            await Task.Delay(rule.Delay, ct);
                            break;
                        case FaultAction.HoldForReorder:
                            Note($"holding {what} until the next {direction} PDU");
                            if (held is { } previous) // two holds in a row: the first goes now, behind nothing
                            {
                                await output.WriteAsync(previous.Buffer.AsMemory(0, previous.Length), ct);
                                ArrayPool<byte>.Shared.Return(previous.Buffer);
                            }
                            held = (pdu, total, what);
                            handedOver = true;
                            continue;
                        case FaultAction.KillConnection:
                            Note($"killing connection {relay.Id} at {what}");
                            relay.Kill();
                            return;
                    }
                    await output.WriteAsync(pdu.AsMemory(0, total), ct);
                    if (held is { } release)
                    {
                        held = null;
                        await output.WriteAsync(release.Buffer.AsMemory(0, release.Length), ct);
                        ArrayPool<byte>.Shared.Return(release.Buffer);
                        Note($"released {release.What} after {what}");
                    }
                }
                finally
                {
                    if (!handedOver) ArrayPool<byte>.Shared.Return(pdu);
                }
            }
            if (held is { } last)
            {
                held = null;
                await output.WriteAsync(last.Buffer.AsMemory(0, last.Length), ct);
                ArrayPool<byte>.Shared.Return(last.Buffer);
                Note($"released {last.What} at the end of the stream");
            }
        }
        catch
        {
            // A reset, a kill or DisposeAsync: the relay ends; the other direction sees it too.
        }
        try { to.Shutdown(SocketShutdown.Send); } catch { }
    }

    private void CheckDigests(byte[] pdu, int headerLength, int dataStart, int dataLength, bool hd, bool dd)
    {
        if (hd)
        {
            Interlocked.Increment(ref _digestsChecked);
            if (Crc32C.Compute(pdu.AsSpan(0, headerLength - 4)) != Crc32C.Read(pdu.AsSpan(headerLength - 4)))
                Interlocked.Increment(ref _digestErrors);
        }
        if (dd && dataLength > 0)
        {
            int padded = PduWireFormat.Pad(dataLength);
            Interlocked.Increment(ref _digestsChecked);
            if (Crc32C.Compute(pdu.AsSpan(dataStart, padded)) != Crc32C.Read(pdu.AsSpan(dataStart + padded)))
                Interlocked.Increment(ref _digestErrors);
        }
    }

    /// <summary>Counts the PDU and returns the rule that fires on it (the first armed one whose count is reached), if any.</summary>
    private (FaultRule? Rule, int Nth) Pick(int relay, Direction direction, IscsiOpcode opcode, ReadOnlyMemory<byte> bhs)
    {
        lock (_gate)
        {
            _countsByConnection[(relay, direction, opcode)] = _countsByConnection.GetValueOrDefault((relay, direction, opcode)) + 1;
            int nth = _counts.GetValueOrDefault((direction, opcode)) + 1;
            _counts[(direction, opcode)] = nth;
            FaultRule? chosen = null;
            foreach (var state in _rules)
            {
                var rule = state.Rule;
                if (state.Fired || rule.Direction != direction || rule.Opcode != opcode) continue;
                if (rule.Match is { } match && !match(bhs)) continue;
                state.Seen++;
                // A second rule due on the same PDU fires on the next one that matches it.
                if (chosen is null && state.Seen >= rule.Nth)
                {
                    state.Fired = true;
                    chosen = rule;
                }
            }
            return (chosen, nth);
        }
    }

    /// <summary>"DataIn #3 ITT 0x00000010 DataSN 2 offset 524288 F S" and the like.</summary>
    private static string Describe(Direction direction, IscsiOpcode opcode, int nth, byte[] pdu)
    {
        var s = new StringBuilder();
        s.Append(Enum.IsDefined(opcode) ? opcode.ToString() : $"opcode 0x{(byte)opcode:x2}").Append(" #").Append(nth);
        s.Append(direction == Direction.ToTarget ? " (to target)" : " (to initiator)");
        s.Append(" ITT 0x").Append(BinaryPrimitives.ReadUInt32BigEndian(pdu.AsSpan(16)).ToString("x8"));
        uint field36 = BinaryPrimitives.ReadUInt32BigEndian(pdu.AsSpan(36));
        uint field40 = BinaryPrimitives.ReadUInt32BigEndian(pdu.AsSpan(40));
        switch (opcode)
        {
            case IscsiOpcode.DataIn or IscsiOpcode.DataOut:
                s.Append(" DataSN ").Append(field36).Append(" offset ").Append(field40);
                if ((pdu[1] & 0x80) != 0) s.Append(" F");
                if (opcode == IscsiOpcode.DataIn && (pdu[1] & 0x01) != 0) s.Append(" S");
                break;
            case IscsiOpcode.ReadyToTransfer:
                s.Append(" R2TSN ").Append(field36).Append(" offset ").Append(field40);
                break;
            case IscsiOpcode.ScsiCommand:
                s.Append(" CmdSN ").Append(BinaryPrimitives.ReadUInt32BigEndian(pdu.AsSpan(24))).Append(" CDB 0x").Append(pdu[32].ToString("x2"));
                break;
            case IscsiOpcode.ScsiResponse:
                s.Append(" StatSN ").Append(BinaryPrimitives.ReadUInt32BigEndian(pdu.AsSpan(24))).Append(" status 0x").Append(pdu[3].ToString("x2"));
                break;
        }
        return s.ToString();
    }

    /// <summary>NUL-separated key=value pairs (RFC 7143 §6.1).</summary>
    private static IEnumerable<(string Key, string Value)> ParseText(List<byte> text)
    {
        foreach (var pair in Encoding.UTF8.GetString(text.ToArray()).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq > 0) yield return (pair[..eq], pair[(eq + 1)..]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        KillConnections();
        Task[] tasks;
        lock (_gate) tasks = _tasks.Append(_acceptLoop).ToArray();
        try { await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(5)); }
        catch { }
        _stop.Dispose();
    }

    private sealed class RuleState(FaultRule rule)
    {
        public FaultRule Rule { get; } = rule;
        public int Seen;
        public bool Fired;
    }

    private sealed class Relay(int id, Socket client, Socket upstream)
    {
        public int Id { get; } = id;
        public Socket Client { get; } = client;
        public Socket Upstream { get; } = upstream;
        public volatile bool FullFeature, HeaderDigest, DataDigest, Killed;

        public void Kill()
        {
            Killed = true;
            foreach (var socket in new[] { Client, Upstream })
            {
                try { socket.LingerState = new LingerOption(true, 0); } catch { }
                socket.Dispose();
            }
        }
    }
}
