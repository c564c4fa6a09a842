using System.Buffers.Binary;
using System.Net.Sockets;
using CsCheck;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Iscsi.Target;
using Iser.Transport.Tcp;

namespace Iser.Tests.Fuzz;

/// <summary>
/// The TCP PDU reader (BHS, AHS, header and data digests, padding, lengths) fed mutated PDU streams through a connected
/// socket pair, and the target's AHS parser fed mutated AHS. A reader may only end a stream with
/// <see cref="PduFormatException"/> or <see cref="DatamoverException"/> (peer closed mid-PDU); unmutated streams read
/// back exactly the PDUs written.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class PduReaderFuzzTests : IDisposable
{
    private static readonly IscsiOpcode[] InitiatorOpcodes =
    [
        IscsiOpcode.NopOut, IscsiOpcode.ScsiCommand, IscsiOpcode.TaskManagementRequest, IscsiOpcode.LoginRequest,
        IscsiOpcode.TextRequest, IscsiOpcode.DataOut, IscsiOpcode.LogoutRequest, IscsiOpcode.SnackRequest,
    ];
    private static readonly int[] MaxRecvChoices = [512, 8192, 262144, PduWireFormat.MaxDataSegmentLength];

    // Unix-domain pairs: a fresh connection per input without TCP's TIME_WAIT eating ports on long runs.
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"iser-fuzz-{Guid.NewGuid():N}.sock");
    private readonly Socket _listener;
    // Where data segments land; one buffer for all inputs so a 16 MiB DataSegmentLength is not an allocation per input.
    private readonly byte[] _data = new byte[PduWireFormat.MaxDataSegmentLength];

    public PduReaderFuzzTests()
    {
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(_path));
        _listener.Listen(4);
    }

    public void Dispose()
    {
        _listener.Dispose();
        File.Delete(_path);
    }

    /// <summary>One PDU as the writer would frame it, kept to compare what the reader returns.</summary>
    internal sealed record Frame(byte[] Bhs, byte[] Ahs, byte[] Data);

    internal sealed record Stream(byte[] Wire, Frame[]? Unmutated, bool HeaderDigest, bool DataDigest, bool Discard, int MaxRecv)
    {
        public override string ToString() =>
            $"hd={HeaderDigest} dd={DataDigest} discard={Discard} maxRecv={MaxRecv} valid={Unmutated is not null} wire={FuzzCampaign.Hex(Wire)}";
    }

    private static readonly Gen<Frame> GenFrame =
        Gen.Select(Gen.Int[0, InitiatorOpcodes.Length - 1], Gen.Byte.Array[44], Gen.Int[0, 3], Gen.Byte.Array[0, 500], Gen.Bool, // data within the smallest MaxRecv
            (op, rest, ahsWords, data, final) =>
            {
                var bhs = new byte[Pdu.BhsLength];
                rest.CopyTo(bhs, 4);
                bhs[0] = (byte)((byte)InitiatorOpcodes[op] | (rest[0] & 0x40));
                bhs[1] = (byte)(final ? 0x80 : 0);
                var ahs = new byte[ahsWords * 4];
                new Random(rest[1]).NextBytes(ahs);
                return new Frame(bhs, ahs, data);
            });

    private static byte[] Encode(Frame[] frames, bool headerDigest, bool dataDigest)
    {
        var wire = new List<byte>();
        foreach (var f in frames)
        {
            var pdu = new Pdu();
            f.Bhs.CopyTo(pdu.Bhs, 0);
            pdu.Ahs = f.Ahs;
            pdu.SetData(f.Data);
            var buffer = new byte[PduWireFormat.HeaderLength(pdu, headerDigest) + PduWireFormat.DataLength(f.Data.Length, dataDigest)];
            int n = PduWireFormat.WriteHeader(pdu, buffer, headerDigest);
            n += PduWireFormat.WriteData(f.Data, buffer.AsSpan(n), dataDigest);
            f.Bhs[4] = pdu.Bhs[4]; // what WriteHeader put in the length fields is what must come back
            f.Bhs[5] = pdu.Bhs[5]; f.Bhs[6] = pdu.Bhs[6]; f.Bhs[7] = pdu.Bhs[7];
            wire.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        return wire.ToArray();
    }

    // Opcode, flags, TotalAHSLength and DataSegmentLength of the first PDU, and the AHS / digest just after its BHS.
    private static readonly int[] Hot = [0, 1, 4, 5, 6, 48, 52];

    private static readonly Gen<Stream> GenStream =
        Gen.Select(GenFrame.Array[1, 3], Gen.Bool, Gen.Bool, Gen.Bool, Gen.Int[0, MaxRecvChoices.Length - 1])
            .SelectMany(t =>
            {
                var (frames, hd, dd, discard, mr) = t;
                var wire = Encode(frames, hd, dd);
                return Gen.Frequency(
                    (1, Gen.Const(new Stream(wire, frames, hd, dd, discard, MaxRecvChoices[mr]))),
                    (6, Mutations.List().Select(m => new Stream(Mutations.Apply(wire, m, Hot), null, hd, dd, discard, MaxRecvChoices[mr]))),
                    (2, Gen.Byte.Array[0, 300].Select(b => new Stream(b, null, hd, dd, discard, MaxRecvChoices[mr]))));
            });

    private void ReadStream(Stream input)
    {
        using var sender = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        sender.Connect(new UnixDomainSocketEndPoint(_path));
        using var receiver = _listener.Accept();
        sender.Send(input.Wire);
        sender.Shutdown(SocketShutdown.Send);
        // Blocking reads run synchronously on this thread, so the campaign's per-thread allocation count sees them.
        var reader = new TcpPduReader(receiver, bufferSize: 16 * 1024)
        {
            HeaderDigest = input.HeaderDigest, DataDigest = input.DataDigest, DiscardCorruptHeaders = input.Discard, Wait = ReadWait.Blocking,
        };
        var read = new List<Frame>();
        var pdu = new Pdu();
        bool ended = false;
        for (int guard = 0; guard < 10_000 && !ended; guard++)
        {
            try
            {
                if (!reader.ReadHeaderAsync(pdu, receiverIsTarget: true, input.MaxRecv, CancellationToken.None).AsTask().GetAwaiter().GetResult())
                {
                    FuzzCampaign.Count("clean end");
                    ended = true;
                    break;
                }
                Assert.True(pdu.DataSegmentLength <= input.MaxRecv, $"a {pdu.DataSegmentLength}-byte segment passed a limit of {input.MaxRecv}");
                Assert.Equal(pdu.TotalAhsLength, pdu.Ahs.Length);
                Assert.True((int)pdu.Opcode < 0x20, $"a target opcode {pdu.Opcode} reached the target");
                var data = _data.AsMemory(0, pdu.DataSegmentLength);
                try
                {
                    reader.ReadDataAsync(data, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                }
                catch (PduFormatException e) when (e.Recoverable)
                {
                    Assert.Null(input.Unmutated); // a digest error in a stream nobody touched would be a writer/reader mismatch
                    FuzzCampaign.Count("data digest error");
                    continue; // the stream stays in step after a data digest error
                }
                FuzzCampaign.Count("pdu read");
                read.Add(new Frame(pdu.Bhs.ToArray(), pdu.Ahs.ToArray(), data.ToArray()));
            }
            catch (PduFormatException e) when (!e.Recoverable)
            {
                Assert.Null(input.Unmutated);
                FuzzCampaign.Count(e.Message.StartsWith("Header digest") ? "header digest error" : "bad header");
                ended = true;
            }
            catch (DatamoverException e) when (e is not PduFormatException)
            {
                Assert.Null(input.Unmutated);
                Assert.Contains("closed by peer", e.Message);
                FuzzCampaign.Count("closed mid-PDU");
                ended = true;
            }
        }
        Assert.True(ended, "the reader kept returning PDUs from a finite stream");
        if (input.Unmutated is { } frames)
        {
            Assert.Equal(frames.Length, read.Count);
            for (int i = 0; i < frames.Length; i++)
            {
                Assert.Equal(frames[i].Bhs, read[i].Bhs);
                Assert.Equal(frames[i].Ahs, read[i].Ahs);
                Assert.Equal(frames[i].Data, read[i].Data);
            }
        }
    }

    [Fact]
    public void TcpReaderSurvivesMutatedStreams() =>
        FuzzCampaign.Run("pdu-reader-tcp", GenStream, ReadStream, s => s.ToString());

    // ---- AHS of a SCSI Command (RFC 7143 §11.2.1.2): what the target makes of TotalAHSLength's bytes ----

    private static readonly Gen<byte[]> ValidAhs =
        Gen.Select(Gen.Bool, Gen.Int[0, 244], Gen.Bool, Gen.UInt, (ext, extLength, bidi, bidiLength) =>
        {
            var ahs = new List<byte>();
            if (ext)
            {
                int padded = (extLength + 3 + 3) & ~3;
                var a = new byte[padded];
                BinaryPrimitives.WriteUInt16BigEndian(a, (ushort)(extLength + 1));
                a[2] = 1;
                ahs.AddRange(a);
            }
            if (bidi)
            {
                var b = new byte[8];
                BinaryPrimitives.WriteUInt16BigEndian(b, 5);
                b[2] = 2;
                BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), bidiLength);
                ahs.AddRange(b);
            }
            return ahs.ToArray();
        });

    private static void ParseAhs(byte[] ahs)
    {
        var pdu = new Pdu { Ahs = ahs };
        var task = new TargetTask();
        if (TargetConnection.ParseAhs(pdu, task, out var problem))
        {
            Assert.Null(problem);
            Assert.InRange(task.Cdb.Length, 6, 260);
            FuzzCampaign.Count("accepted");
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace(problem));
            FuzzCampaign.Count("refused");
        }
    }

    [Fact]
    public void AhsParserRefusesMalformedAhsInWords() =>
        FuzzCampaign.Run("ahs-parser", Mutations.Around(ValidAhs, 1100, hot: [0, 1, 2, 4]), ParseAhs, b => FuzzCampaign.Hex(b));

    [Fact]
    public void AhsWithLengthZeroIsAProblemNotAnException()
    {
        // Found by the AHS fuzz target: AHSLength 0 made the body slice length -1 and threw out of the receive path.
        var pdu = new Pdu { Ahs = new byte[] { 0x00, 0x00, 0x01, 0x00 } };
        Assert.False(TargetConnection.ParseAhs(pdu, new TargetTask(), out var problem));
        Assert.Contains("AHS", problem);
    }
}
