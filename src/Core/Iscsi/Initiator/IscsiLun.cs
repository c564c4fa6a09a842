using System.Buffers.Binary;
using System.Text;
using Iser.Core.Scsi;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>Standard INQUIRY data, the parts a user reads (SPC-4 §6.6.2).</summary>
public sealed record InquiryResult(int PeripheralDeviceType, int PeripheralQualifier, bool Removable, int Version,
    string Vendor, string Product, string Revision)
{
    public override string ToString() => $"{Vendor} {Product} {Revision} (device type 0x{PeripheralDeviceType:x2})";
}

/// <summary>
/// One logical unit behind a session, as a block device: reads and writes by LBA with READ/WRITE (10) or (16) as the
/// address needs. Transfers are not split (the target splits into PDUs); a buffer must be a whole number of blocks.
/// </summary>
public sealed class IscsiLun
{
    private readonly IscsiSession _session;

    internal IscsiLun(IscsiSession session, int lun)
    {
        _session = session;
        Lun = lun;
    }

    public int Lun { get; }
    public IscsiSession Session => _session;
    /// <summary>Logical block length in bytes (from READ CAPACITY).</summary>
    public int BlockSize { get; private set; }
    public long BlockCount { get; private set; }
    public long CapacityBytes => BlockSize * BlockCount;

    public async ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int blocks = CheckRange(lba, buffer.Length);
        var cdb = new byte[16];
        int length = BlockCommands.ReadWrite(cdb, write: false, lba, blocks);
        var response = await _session.ExecuteAsync(ScsiCommand.Read(Lun, cdb.AsMemory(0, length), buffer), cancellationToken).ConfigureAwait(false);
        Check(response, $"READ of {blocks} block(s) at LBA {lba} on LUN {Lun}");
    }

    public async ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int blocks = CheckRange(lba, buffer.Length);
        var cdb = new byte[16];
        int length = BlockCommands.ReadWrite(cdb, write: true, lba, blocks);
        var response = await _session.ExecuteAsync(ScsiCommand.Write(Lun, cdb.AsMemory(0, length), buffer), cancellationToken).ConfigureAwait(false);
        Check(response, $"WRITE of {blocks} block(s) at LBA {lba} on LUN {Lun}");
    }

    /// <summary>SYNCHRONIZE CACHE (10) over the whole medium.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        var cdb = new byte[10];
        BlockCommands.SynchronizeCacheCdb(cdb);
        var response = await _session.ExecuteAsync(new ScsiCommand(Lun, cdb), cancellationToken).ConfigureAwait(false);
        Check(response, $"SYNCHRONIZE CACHE on LUN {Lun}");
    }

    /// <summary>UNMAP one range of blocks.</summary>
    public async ValueTask UnmapAsync(long lba, long blocks, CancellationToken cancellationToken = default)
    {
        if (blocks is <= 0 or > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(blocks), "UNMAP takes 1 to 2^32-1 blocks per range.");
        if (BlockCount > 0 && lba + blocks > BlockCount)
            throw new ArgumentOutOfRangeException(nameof(lba), $"Blocks {lba}..{lba + blocks - 1} lie beyond the end of LUN {Lun} ({BlockCount} blocks).");
        var cdb = new byte[10];
        var parameters = new byte[24];
        BlockCommands.UnmapCdb(cdb, parameters, lba, (uint)blocks);
        var response = await _session.ExecuteAsync(ScsiCommand.Write(Lun, cdb, parameters), cancellationToken).ConfigureAwait(false);
        Check(response, $"UNMAP of {blocks} block(s) at LBA {lba} on LUN {Lun}");
    }

    public async ValueTask<InquiryResult> InquiryAsync(CancellationToken cancellationToken = default)
    {
        var cdb = new byte[6];
        BlockCommands.InquiryCdb(cdb, 96);
        var data = new byte[96];
        var response = await _session.ExecuteAsync(ScsiCommand.Read(Lun, cdb, data), cancellationToken).ConfigureAwait(false);
        Check(response, $"INQUIRY on LUN {Lun}");
        int n = response.TransferredLength;
        if (n < 36) throw new IscsiException($"INQUIRY on LUN {Lun} returned {n} bytes; standard INQUIRY data needs 36.");
        static string Ascii(ReadOnlySpan<byte> s) => Encoding.ASCII.GetString(s).TrimEnd(' ', '\0');
        return new InquiryResult(data[0] & 0x1f, data[0] >> 5, (data[1] & 0x80) != 0, data[2],
            Ascii(data.AsSpan(8, 8)), Ascii(data.AsSpan(16, 16)), Ascii(data.AsSpan(32, 4)));
    }

    /// <summary>READ CAPACITY (16), or (10) when the device does not know it; sets <see cref="BlockSize"/> and <see cref="BlockCount"/>.</summary>
    public async ValueTask<(long BlockCount, int BlockSize)> ReadCapacityAsync(CancellationToken cancellationToken = default)
    {
        var cdb = new byte[16];
        var data = new byte[32];
        int length = BlockCommands.ReadCapacity16Cdb(cdb, 32);
        var response = await _session.ExecuteAsync(ScsiCommand.Read(Lun, cdb.AsMemory(0, length), data), cancellationToken).ConfigureAwait(false);
        if (response.IsGood && response.TransferredLength >= 12)
        {
            BlockCount = (long)BinaryPrimitives.ReadUInt64BigEndian(data) + 1;
            BlockSize = (int)BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(8));
            return (BlockCount, BlockSize);
        }
        if (response.Status != ScsiStatus.CheckCondition || response.Sense?.SenseKey != 0x5)
            Check(response, $"READ CAPACITY (16) on LUN {Lun}");
        // ILLEGAL REQUEST: an older device without SERVICE ACTION IN (16).
        length = BlockCommands.ReadCapacity10Cdb(cdb);
        response = await _session.ExecuteAsync(ScsiCommand.Read(Lun, cdb.AsMemory(0, length), data.AsMemory(0, 8)), cancellationToken).ConfigureAwait(false);
        Check(response, $"READ CAPACITY (10) on LUN {Lun}");
        BlockCount = (long)BinaryPrimitives.ReadUInt32BigEndian(data) + 1;
        BlockSize = (int)BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4));
        return (BlockCount, BlockSize);
    }

    private int CheckRange(long lba, int length)
    {
        if (BlockSize <= 0) throw new InvalidOperationException($"The block size of LUN {Lun} is not known yet; call ReadCapacityAsync first.");
        if (length == 0 || length % BlockSize != 0)
            throw new ArgumentException($"The buffer is {length} bytes, not a whole number of {BlockSize}-byte blocks.");
        int blocks = length / BlockSize;
        if (lba < 0 || lba + blocks > BlockCount)
            throw new ArgumentOutOfRangeException(nameof(lba), $"Blocks {lba}..{lba + blocks - 1} lie beyond the end of LUN {Lun} ({BlockCount} blocks).");
        return blocks;
    }

    private static void Check(in ScsiResponse response, string operation)
    {
        if (!response.IsGood) throw new ScsiCommandFailedException(operation, response);
    }
}
