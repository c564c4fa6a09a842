using BenchmarkDotNet.Attributes;
using Iser.Core.Iscsi.Pdus;
using Iser.Transport.Iser.Protocol;

namespace Iser.Bench;

/// <summary>
/// The 28-byte iSER header (RFC 7145 §9.2): Write of a control header and of a SCSI Command header advertising a read
/// buffer (R bit, STag, VA), and Read of the latter; and the whole control-PDU framing the connections use,
/// <see cref="IserPduCodec"/> (internal; Iser.Transport.Iser lets this project see it).
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

    /// <summary>IserPduCodec.Encode of a SCSI Command with a read advertisement and no data segment.</summary>
    [Benchmark]
    public int EncodeScsiCommand() => IserPduCodec.Encode(_scsiCommand, _buffer);

    /// <summary>IserPduCodec.Decode of the same message, the PDU going back to the pool afterwards.</summary>
    [Benchmark]
    public uint DecodeScsiCommand()
    {
        var pdu = IserPduCodec.Decode(_received);
        uint r = pdu.InitiatorTaskTag + pdu.Rdma.ReadStag;
        PduPool.Return(pdu);
        return r;
    }
}
