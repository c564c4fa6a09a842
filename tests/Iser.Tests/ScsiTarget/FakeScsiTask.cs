using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Alua;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Tests.ScsiTarget;

/// <summary>
/// A transport-free SCSI command for driving a logical unit: a CDB, an Expected Data Transfer Length in either
/// direction, write data to hand out, and a record of what the LU asked for.
/// </summary>
internal sealed class FakeScsiTask : IScsiTask
{
    private readonly byte[] _dataOut;
    private byte[]? _dataIn;

    /// <summary>The nexus a task comes through unless told otherwise.</summary>
    public static readonly ItNexus DefaultNexus = new("iqn.2026-12.test:initiator", 0x23D000000001, "iqn.2026-12.test:target", 1, 1);

    public FakeScsiTask(byte[] cdb, int expectedDataIn = 0, byte[]? dataOut = null, int? expectedDataOut = null, ulong lun = 0, ItNexus? nexus = null)
    {
        Nexus = nexus ?? DefaultNexus;
        Cdb = cdb;
        ExpectedDataInLength = expectedDataIn;
        _dataOut = dataOut ?? [];
        ExpectedDataOutLength = expectedDataOut ?? _dataOut.Length;
        Lun = lun;
    }

    public ulong Lun { get; }
    public ItNexus Nexus { get; }
    /// <summary>The other logical units of the "target" (EXTENDED COPY's copy targets); none unless a test sets them.</summary>
    public IEnumerable<ILogicalUnit> LogicalUnitsOfTarget { get; init; } = [];
    /// <summary>The "target's" ALUA states; none (a logical unit outside a target with ALUA) unless a test sets them.</summary>
    public AsymmetricAccessStates? AccessStates { get; init; }
    public ReadOnlyMemory<byte> Cdb { get; }
    public int ExpectedDataInLength { get; }
    public int ExpectedDataOutLength { get; }

    /// <summary>How many times the LU fetched write data (0 means a refused command moved no data).</summary>
    public int DataOutRequests { get; private set; }

    public ValueTask<ReadOnlyMemory<byte>> ReceiveDataOutAsync(int length, CancellationToken cancellationToken)
    {
        DataOutRequests++;
        if (length > ExpectedDataOutLength) throw new InvalidOperationException($"LU asked for {length} bytes but only {ExpectedDataOutLength} were announced.");
        return new(_dataOut.AsMemory(0, Math.Min(length, _dataOut.Length)));
    }

    public Memory<byte> GetDataInBuffer(int length)
    {
        _dataIn = new byte[length];
        return _dataIn;
    }

    /// <summary>What the core would send: min(DataInLength, EDTL) bytes of the buffer.</summary>
    public byte[] SentData(ScsiCommandResult result)
    {
        int n = Math.Min(result.DataInLength, ExpectedDataInLength);
        if (n == 0) return [];
        Assert.NotNull(_dataIn);
        Assert.True(_dataIn!.Length >= n, $"data-in buffer of {_dataIn.Length} bytes is shorter than the {n} bytes to send");
        return _dataIn.AsSpan(0, n).ToArray();
    }
}
