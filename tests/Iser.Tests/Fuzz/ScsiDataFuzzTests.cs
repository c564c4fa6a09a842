using CsCheck;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.ScsiTarget;

namespace Iser.Tests.Fuzz;

/// <summary>
/// What the initiator decodes from a target's answers: sense data (raw and as the iSCSI sense segment), standard
/// INQUIRY, VPD pages 00h/80h/83h/B0h, READ CAPACITY(10/16), REPORT LUNS; and the target's TransportID decoder. The
/// valid inputs are our own target's answers, mutated, so the decoders are also checked against our encoders. A
/// decoder may only refuse with <see cref="ScsiDataFormatException"/>; an unmutated answer always decodes.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class ScsiDataFuzzTests
{
    internal sealed record Sample(string Kind, byte[] Valid);

    /// <summary>Our logical unit's answers to the commands whose data the initiator decodes.</summary>
    private static readonly Sample[] Answers = CollectAnswers();

    private static Sample[] CollectAnswers()
    {
        var lu = new BlockDeviceLogicalUnit(new RamBackingStore(1L << 20), new BlockDeviceOptions { BlockSize = 512, Identity = "fuzz-lu" });
        byte[] Run(byte[] cdb, int length)
        {
            var task = new FakeScsiTask(cdb, expectedDataIn: length);
            var result = lu.ExecuteAsync(task, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            LuHarness.AssertGood(result);
            return task.SentData(result);
        }
        var bad = lu.ExecuteAsync(new FakeScsiTask([0xff, 0, 0, 0, 0, 0]), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var sense = bad.Sense.ToArray();
        var samples = new[]
        {
            new Sample("inquiry", Run(Cdbs.Inquiry(false, 0, 255), 255)),
            new Sample("vpd-00", Run(Cdbs.Inquiry(true, 0x00, 255), 255)),
            new Sample("vpd-80", Run(Cdbs.Inquiry(true, 0x80, 255), 255)),
            new Sample("vpd-83", Run(Cdbs.Inquiry(true, 0x83, 255), 255)),
            new Sample("vpd-b0", Run(Cdbs.Inquiry(true, 0xB0, 255), 255)),
            new Sample("capacity-10", Run(Cdbs.ReadCapacity10(), 8)),
            new Sample("capacity-16", Run(Cdbs.ReadCapacity16(32), 32)),
            new Sample("report-luns", Run(Cdbs.ReportLuns(4096), 4096)),
            new Sample("sense", sense),
            new Sample("sense-segment", [(byte)(sense.Length >> 8), (byte)sense.Length, .. sense]),
            new Sample("transport-id", TransportId("iqn.2026-12.test:initiator,i,0x23d000000001")),
        };
        lu.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return samples;
    }

    private static byte[] TransportId(string name)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(name + "\0");
        int padded = (bytes.Length + 3) & ~3;
        var tid = new byte[4 + padded];
        tid[0] = 0x45;
        tid[2] = (byte)(padded >> 8);
        tid[3] = (byte)padded;
        bytes.CopyTo(tid, 4);
        return tid;
    }

    private static void Decode(string kind, byte[] data)
    {
        switch (kind)
        {
            case "inquiry": InquiryData.Parse(data); break;
            case "vpd-00": VpdPages.ParseSupportedPages(data); break;
            case "vpd-80": VpdPages.ParseUnitSerialNumber(data); break;
            case "vpd-83": VpdPages.ParseDeviceIdentification(data); break;
            case "vpd-b0": VpdPages.ParseBlockLimits(data); break;
            case "capacity-10": ReadCapacityData.ParseReadCapacity10(data); break;
            case "capacity-16": ReadCapacityData.ParseReadCapacity16(data); break;
            case "report-luns": ReportLunsData.Parse(data); break;
            case "sense":
                bool parsed = SenseData.TryParse(data, out _);
                Assert.Equal(parsed, Refuses(() => SenseData.Parse(data)) is null);
                break;
            case "sense-segment": SenseData.ParseIscsiSenseSegment(data); break;
            case "transport-id":
                if (IscsiTransportId.TryDecode(data, out _, out int length, out int invalid))
                    Assert.InRange(length, 1, data.Length);
                else
                    Assert.InRange(invalid, 0, Math.Max(0, data.Length + 4));
                break;
            default: throw new InvalidOperationException($"no decoder for {kind}");
        }
    }

    private static ScsiDataFormatException? Refuses(Action decode)
    {
        try
        {
            decode();
            return null;
        }
        catch (ScsiDataFormatException e)
        {
            return e;
        }
    }

    internal sealed record Case(int Which, int How, Mutation[] Edits, byte[] Random)
    {
        public byte[] Data => How switch { 0 => Answers[Which].Valid, 1 => Mutations.Apply(Answers[Which].Valid, Edits, [0, 1, 2, 3, 4, 7]), _ => Random };
        public override string ToString() => $"{Answers[Which].Kind} {(How == 0 ? "valid" : How == 1 ? "mutated" : "random")}: {FuzzCampaign.Hex(Data)}";
    }

    private static readonly Gen<Case> GenCase =
        Gen.Select(Gen.Int[0, Answers.Length - 1], Gen.Frequency((1, Gen.Const(0)), (6, Gen.Const(1)), (2, Gen.Const(2))),
            Mutations.List(), Gen.Byte.Array[0, 300], (w, h, e, r) => new Case(w, h, e, r));

    [Fact]
    public void InitiatorDecodersRefuseInWordsAndReadOurTargetsAnswers() =>
        FuzzCampaign.Run("scsi-data", GenCase, c =>
        {
            var data = c.Data;
            var refusal = Refuses(() => Decode(Answers[c.Which].Kind, data));
            if (c.How == 0) Assert.Null(refusal); // our target's own answer must decode
            if (refusal is not null) Assert.False(string.IsNullOrWhiteSpace(refusal.Message));
            FuzzCampaign.Count($"{Answers[c.Which].Kind} {(refusal is null ? "decoded" : "refused")}");
        }, c => c.ToString());
}
