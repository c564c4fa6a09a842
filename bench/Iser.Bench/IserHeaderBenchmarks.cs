using BenchmarkDotNet.Attributes;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Protocol;

namespace Iser.Bench;

/// <summary>
/// The 28-byte iSER header (RFC 7145 §9.2), public in Iser.Transport.Iser: Write of a control header and of a SCSI
/// Command header advertising a read buffer (R bit, STag, VA), and Read of the latter.
/// IserConnection.Encode/Decode, which frame a whole control PDU, are <c>internal</c>, and Iser.Transport.Iser grants
/// InternalsVisibleTo only to Iser.Tests and Iser.VerbsBench, so they are not called here. The two *Steps benchmarks
/// run the same public steps those methods take (IserHeader + PduWireFormat.WriteHeader + data copy; IserHeader.Read +
/// BHS copy into a pooled Pdu + SetData), as a stand-in that does not follow later changes to the internal methods.
/// </summary>
[MemoryDiagnoser]
public class IserHeaderBenchmarks
{
    private readonly byte[] _buffer = new byte[IserHeader.Length + Pdu.BhsLength + 8192];
    private readonly byte[] _received = new byte[IserHeader.Length + Pdu.BhsLength];
    private readonly IserHeader _command = new(IserOpcode.IscsiControl, HasWrite: false, WriteStag: 0, WriteBaseOffset: 0,
        HasRead: true, ReadStag: 0x1234_5678, ReadBaseOffset: 0x7f00_dead_b000);
    private Pdu _scsiCommand = null!;

    [GlobalSetup]
    public void Setup()
    {
        _scsiCommand = new Pdu();
        _scsiCommand.Opcode = IscsiOpcode.ScsiCommand;
        _scsiCommand.Flags = 0x80 | 0x40 | 0x01;
        _scsiCommand.InitiatorTaskTag = 7;
        _scsiCommand.Field20 = 4096;
        _scsiCommand.Field24 = 100;
        _scsiCommand.Field28 = 50;
        _scsiCommand.Bhs[32] = 0x28; // READ(10)
        _scsiCommand.Rdma = new RdmaBufferAdvertisement { HasRead = true, ReadStag = 0x1234_5678, ReadVa = 0x7f00_dead_b000 };

        _command.Write(_received);
        _scsiCommand.Bhs.CopyTo(_received.AsSpan(IserHeader.Length));
    }

    [Benchmark]
    public void WriteControlHeader() => IserHeader.Control.Write(_buffer);

    [Benchmark]
    public void WriteCommandHeader() => _command.Write(_buffer);

    [Benchmark]
    public IserHeader ReadCommandHeader() => IserHeader.Read(_received);

    /// <summary>The steps of IserConnection.Encode for a SCSI Command with a read advertisement and no data segment.</summary>
    [Benchmark]
    public int EncodeScsiCommandSteps()
    {
        var pdu = _scsiCommand;
        var rdma = pdu.Rdma;
        Span<byte> buffer = _buffer;
        new IserHeader(IserOpcode.IscsiControl, rdma.HasWrite, rdma.WriteStag, rdma.WriteVa, rdma.HasRead, rdma.ReadStag, rdma.ReadVa)
            .Write(buffer);
        int n = IserHeader.Length + PduWireFormat.WriteHeader(pdu, buffer[IserHeader.Length..], headerDigest: false);
        pdu.Data.Span.CopyTo(buffer[n..]);
        return n + pdu.Data.Length;
    }

    /// <summary>The steps of IserConnection.Decode for the same message, the PDU going back to the pool afterwards.</summary>
    [Benchmark]
    public uint DecodeScsiCommandSteps()
    {
        ReadOnlySpan<byte> message = _received;
        var header = IserHeader.Read(message);
        var body = message[IserHeader.Length..];
        var pdu = PduPool.Rent();
        body[..Pdu.BhsLength].CopyTo(pdu.Bhs);
        int ahs = pdu.TotalAhsLength;
        int dsl = pdu.DataSegmentLength;
        pdu.SetData(body.Slice(Pdu.BhsLength + ahs, dsl));
        pdu.Rdma = new RdmaBufferAdvertisement
        {
            HasWrite = header.HasWrite, WriteStag = header.WriteStag, WriteVa = header.WriteBaseOffset,
            HasRead = header.HasRead, ReadStag = header.ReadStag, ReadVa = header.ReadBaseOffset,
        };
        uint r = pdu.InitiatorTaskTag + pdu.Rdma.ReadStag;
        PduPool.Return(pdu);
        return r;
    }
}
