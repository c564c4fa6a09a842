using System.Buffers.Binary;
using System.Text;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

public class BlockDeviceInquiryTests
{
    [Fact]
    public async Task Standard_data_follows_spc4_layout()
    {
        await using var lu = RamLu();
        var (result, d) = await In(lu, Cdbs.Inquiry(false, 0, 255), 255);
        AssertGood(result);
        Assert.True(d.Length >= 74);
        Assert.Equal(d.Length, d[4] + 5);                 // ADDITIONAL LENGTH covers the rest
        Assert.Equal(0x00, d[0]);                          // qualifier 0, direct-access block device
        Assert.Equal(0x00, d[1] & 0x80);                   // not removable
        Assert.Equal(0x06, d[2]);                          // SPC-4
        Assert.Equal(0x02, d[3] & 0x0F);                   // response data format 2
        Assert.Equal(0x10, d[3] & 0x10);                   // HISUP
        Assert.Equal(0x00, d[3] & 0xC0);                   // no AERC/TRMTSK
        Assert.Equal(0x02, d[7] & 0x02);                   // CMDQUE
        Assert.Equal(0x00, d[5] & 0x01);                   // no PROTECT
        Assert.Equal("ISER    ", Encoding.ASCII.GetString(d, 8, 8));
        Assert.Equal("Iser Disk       ", Encoding.ASCII.GetString(d, 16, 16));
        Assert.Equal("0001", Encoding.ASCII.GetString(d, 32, 4));
        var versions = Enumerable.Range(0, 8).Select(i => BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(58 + 2 * i))).ToArray();
        Assert.Contains((ushort)0x0460, versions);         // SPC-4
        Assert.Contains((ushort)0x04C0, versions);         // SBC-3
    }

    [Fact]
    public async Task Allocation_length_truncates_and_is_a_16_bit_field()
    {
        await using var lu = RamLu();
        var (full, all) = await In(lu, Cdbs.Inquiry(false, 0, 512), 512);
        AssertGood(full);
        for (ushort n = 0; n < 100; n += 7)
        {
            var (r, d) = await In(lu, Cdbs.Inquiry(false, 0, n), 512);
            AssertGood(r);
            Assert.Equal(Math.Min(n, all.Length), r.DataInLength);
            Assert.Equal(all[..d.Length], d);
        }
        var (r511, d511) = await In(lu, Cdbs.Inquiry(false, 0, 511), 511);
        Assert.Equal(all, d511);
        Assert.Equal(all.Length, r511.DataInLength);
    }

    [Fact]
    public async Task Page_code_without_evpd_and_unknown_pages_are_invalid_fields()
    {
        await using var lu = RamLu();
        AssertInvalidFieldInCdb((await In(lu, Cdbs.Inquiry(false, 0x80, 255), 255)).Result, 2);
        foreach (byte page in new byte[] { 0x01, 0x81, 0x86, 0xB3, 0xC0, 0xFF })
            AssertInvalidFieldInCdb((await In(lu, Cdbs.Inquiry(true, page, 255), 255)).Result, 2);
        var cmddt = Cdbs.Inquiry(false, 0, 255);
        cmddt[1] = 0x02;
        AssertInvalidFieldInCdb((await In(lu, cmddt, 255)).Result, 1);
    }

    [Fact]
    public async Task Supported_pages_list_is_sorted_and_every_listed_page_answers()
    {
        await using var lu = RamLu();
        var (r, d) = await In(lu, Cdbs.Inquiry(true, 0x00, 255), 255);
        AssertGood(r);
        Assert.Equal(0x00, d[1]);
        var pages = d[4..(4 + d[3])];
        Assert.Equal(new byte[] { 0x00, 0x80, 0x83, 0x8F, 0xB0, 0xB1, 0xB2 }, pages);
        foreach (var page in pages)
        {
            var (pr, pd) = await In(lu, Cdbs.Inquiry(true, page, 255), 255);
            AssertGood(pr);
            Assert.Equal(page, pd[1]);
            Assert.Equal(pd.Length, BinaryPrimitives.ReadUInt16BigEndian(pd.AsSpan(2)) + 4);
        }
    }

    [Fact]
    public async Task Serial_and_designators_derive_from_the_identity()
    {
        await using var a = new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { Identity = "iqn.2026-11.org.example:a/0" });
        await using var a2 = new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { Identity = "iqn.2026-11.org.example:a/0" });
        await using var b = new BlockDeviceLogicalUnit(new RamBackingStore(1 << 20), new BlockDeviceOptions { Identity = "iqn.2026-11.org.example:a/1" });
        var sa = (await In(a, Cdbs.Inquiry(true, 0x80, 255), 255)).Data;
        var sb = (await In(b, Cdbs.Inquiry(true, 0x80, 255), 255)).Data;
        Assert.Equal(sa, (await In(a2, Cdbs.Inquiry(true, 0x80, 255), 255)).Data);
        Assert.NotEqual(sa, sb);
        string serial = Encoding.ASCII.GetString(sa, 4, sa[3]);
        Assert.Equal(a.SerialNumber, serial);
        Assert.All(serial, ch => Assert.InRange(ch, ' ', '~'));

        var id = (await In(a, Cdbs.Inquiry(true, 0x83, 255), 255)).Data;
        Assert.Equal(0x83, id[1]);
        // First designator: NAA, binary code set, associated with the LU.
        int p = 4;
        Assert.Equal(0x01, id[p] & 0x0F);
        Assert.Equal(0x03, id[p + 1] & 0x0F);
        Assert.Equal(0x00, id[p + 1] & 0x30);
        Assert.Equal(8, id[p + 3]);
        Assert.Equal(0x3, id[p + 4] >> 4);                 // NAA 3h (locally assigned)
        var naaA = id[(p + 4)..(p + 12)];
        var naaB = (await In(b, Cdbs.Inquiry(true, 0x83, 255), 255)).Data[(p + 4)..(p + 12)];
        Assert.NotEqual(naaA, naaB);
        p += 4 + id[p + 3];
        // Second: T10 vendor ID, ASCII, starting with the vendor.
        Assert.Equal(0x02, id[p] & 0x0F);
        Assert.Equal(0x01, id[p + 1] & 0x0F);
        Assert.Equal("ISER    " + serial, Encoding.ASCII.GetString(id, p + 4, id[p + 3]));
        Assert.Equal(id.Length, p + 4 + id[p + 3]);
    }

    [Fact]
    public async Task Block_limits_page_reports_the_configured_limits()
    {
        var options = new BlockDeviceOptions { Identity = "bl", MaxTransferBytes = 1 << 20, OptimalTransferBytes = 256 << 10, MaxCompareAndWriteBlocks = 16, MaxWriteSameBlocks = 4096, MaxUnmapBlocks = 8192, MaxUnmapDescriptors = 64 };
        await using var lu = RamLu(options: options);
        var d = (await In(lu, Cdbs.Inquiry(true, 0xB0, 255), 255)).Data;
        Assert.Equal(64, d.Length);
        Assert.Equal(0x3C, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(2)));
        Assert.Equal(0, d[4] & 0x01);                                          // WSNZ
        Assert.Equal(16, d[5]);                                                // max COMPARE AND WRITE
        Assert.Equal(8, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(6)));    // granularity: 4096/512
        Assert.Equal(2048u, BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(8)));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(12)));
        Assert.Equal(8192u, BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(20)));
        Assert.Equal(64u, BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(24)));
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(28)));
        Assert.Equal(4096ul, BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(36)));
    }

    [Fact]
    public async Task Characteristics_and_provisioning_pages()
    {
        await using var lu = RamLu();
        var bdc = (await In(lu, Cdbs.Inquiry(true, 0xB1, 255), 255)).Data;
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(bdc.AsSpan(4)));  // non-rotating
        var lbp = (await In(lu, Cdbs.Inquiry(true, 0xB2, 255), 255)).Data;
        Assert.Equal(8, lbp.Length);
        Assert.Equal(0x80, lbp[5] & 0x80); // LBPU
        Assert.Equal(0x40, lbp[5] & 0x40); // LBPWS
        Assert.Equal(0x20, lbp[5] & 0x20); // LBPWS10
        Assert.Equal(0x04, lbp[5] & 0x04); // LBPRZ
        Assert.Equal(0x00, lbp[5] & 0x02); // no ANC_SUP
        Assert.Equal(0x02, lbp[6] & 0x07); // thin provisioned

        await using var full = RamLu(options: new BlockDeviceOptions { ThinProvisioning = false, Identity = "thick" });
        var thick = (await In(full, Cdbs.Inquiry(true, 0xB2, 255), 255)).Data;
        Assert.Equal(0, thick[5]);
        var bl = (await In(full, Cdbs.Inquiry(true, 0xB0, 255), 255)).Data;
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(bl.AsSpan(20))); // no UNMAP without thin provisioning
    }
}
