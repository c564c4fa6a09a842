using BenchmarkDotNet.Attributes;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Bench;

/// <summary>
/// Building a SCSI Command PDU's wire header and parsing received headers, as the TCP transport does per PDU.
/// The build mirrors IscsiSession.BuildCommandPdu (private) + InitiatorConnection.OnSending + TcpPduWriter's
/// PduWireFormat.WriteHeader; the parse mirrors TcpPduReader.ReadHeaderAsync (internal) after its bytes have arrived:
/// ValidateReceivedHeader, the header digest check, the copy into a pooled Pdu, then the fields the receiver reads.
/// </summary>
[MemoryDiagnoser]
public class PduBenchmarks
{
    [Params(false, true)]
    public bool HeaderDigest { get; set; }

    private const int MaxRecvDataSegmentLength = 262144;
    private readonly byte[] _cdb = new byte[16];
    private readonly byte[] _sendBuffer = new byte[Pdu.BhsLength + PduWireFormat.DigestLength];
    private byte[] _receivedCommand = [];
    private byte[] _receivedDataIn = [];
    private uint _itt;

    [GlobalSetup]
    public void Setup()
    {
        CdbBuilder.Read10(_cdb, lba: 4096, blocks: 8);

        // A SCSI Command (READ(10), 4 KiB) as the target receives it.
        var command = PduPool.Rent();
        FillScsiCommand(command, itt: 7, cmdSN: 100, expStatSN: 50);
        _receivedCommand = new byte[PduWireFormat.HeaderLength(command, HeaderDigest)];
        PduWireFormat.WriteHeader(command, _receivedCommand, HeaderDigest);
        PduPool.Return(command);

        // The last Data-In of a 4 KiB read with the status collapsed into it (S bit), as the initiator receives it.
        var dataIn = PduPool.Rent();
        dataIn.Opcode = IscsiOpcode.DataIn;
        dataIn.Flags = 0x80 | 0x01;
        dataIn.Bhs[3] = 0; // GOOD
        dataIn.Lun = LunAddressing.Encode(0);
        dataIn.InitiatorTaskTag = 7;
        dataIn.Field20 = Pdu.ReservedTag;
        dataIn.Field24 = 50;   // StatSN
        dataIn.Field28 = 101;  // ExpCmdSN
        dataIn.Field32 = 228;  // MaxCmdSN
        dataIn.Field36 = 0;    // DataSN
        dataIn.Field40 = 0;    // Buffer Offset
        dataIn.SetBorrowedData(new byte[4096]);
        _receivedDataIn = new byte[PduWireFormat.HeaderLength(dataIn, HeaderDigest)];
        PduWireFormat.WriteHeader(dataIn, _receivedDataIn, HeaderDigest);
        PduPool.Return(dataIn);
    }

    private void FillScsiCommand(Pdu pdu, uint itt, uint cmdSN, uint expStatSN)
    {
        pdu.Opcode = IscsiOpcode.ScsiCommand;
        pdu.Flags = 0x80 | 0x40 | 0x01; // F, R, ATTR=Simple
        pdu.Lun = LunAddressing.Encode(0);
        pdu.InitiatorTaskTag = itt;
        pdu.Field20 = 4096; // Expected Data Transfer Length
        _cdb.AsSpan().CopyTo(pdu.Bhs.AsSpan(32));
        pdu.Field24 = cmdSN;
        pdu.Field28 = expStatSN;
    }

    /// <summary>Rent a PDU, fill a READ(10) SCSI Command, write BHS (+ digest) to the send buffer, return the PDU.</summary>
    [Benchmark]
    public int BuildScsiCommandHeader()
    {
        var pdu = PduPool.Rent();
        uint itt = ++_itt;
        FillScsiCommand(pdu, itt, cmdSN: itt, expStatSN: itt);
        int n = PduWireFormat.WriteHeader(pdu, _sendBuffer, HeaderDigest);
        PduPool.Return(pdu);
        return n;
    }

    /// <summary>Target side: validate, check the digest, copy into a pooled PDU, read the command's fields.</summary>
    [Benchmark]
    public long ParseScsiCommandHeader()
    {
        var pdu = ReceiveHeader(_receivedCommand, receiverIsTarget: true);
        long r = pdu.InitiatorTaskTag + pdu.Field20 + pdu.Field24 + pdu.Field28 + (long)pdu.Lun + pdu.Bhs[32] + pdu.Flags;
        PduPool.Return(pdu);
        return r;
    }

    /// <summary>Initiator side: the same for a Data-In carrying status.</summary>
    [Benchmark]
    public long ParseDataInHeader()
    {
        var pdu = ReceiveHeader(_receivedDataIn, receiverIsTarget: false);
        long r = pdu.InitiatorTaskTag + pdu.DataSegmentLength + pdu.Field36 + pdu.Field40 + pdu.Field24 + pdu.Field32
                 + ((pdu.Flags & 0x01) != 0 ? pdu.Bhs[3] + pdu.Field44 : 0);
        PduPool.Return(pdu);
        return r;
    }

    private Pdu ReceiveHeader(ReadOnlySpan<byte> header, bool receiverIsTarget)
    {
        var bhs = header[..Pdu.BhsLength];
        PduWireFormat.ValidateReceivedHeader(bhs, receiverIsTarget, MaxRecvDataSegmentLength);
        int ahsLength = bhs[4] * 4;
        if (HeaderDigest)
        {
            int covered = Pdu.BhsLength + ahsLength;
            if (Crc32C.Compute(header[..covered]) != Crc32C.Read(header[covered..]))
                throw new InvalidOperationException("header digest mismatch");
        }
        var pdu = PduPool.Rent();
        bhs.CopyTo(pdu.Bhs);
        return pdu;
    }
}
