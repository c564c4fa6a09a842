using System.Buffers.Binary;
using CsCheck;
using Iser.Core.Iscsi.Target;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;
using Iser.Core.Scsi.Target.Stores;
using Iser.Tests.ScsiTarget;

namespace Iser.Tests.Fuzz;

/// <summary>
/// The block logical unit run with random CDBs and with mutated parameter lists for every command that reads one:
/// PERSISTENT RESERVE OUT, UNMAP, EXTENDED COPY, MODE SELECT(6/10), WRITE SAME(10/16), COMPARE AND WRITE. Each case is a
/// short command sequence on a fresh RAM-backed unit (so reservations and mode changes made by one command meet the
/// next, and a failing case replays alike). The unit must answer every command with a status, never an exception
/// (the core's overflow refusal excepted); CHECK CONDITION carries fixed-format sense; it asks for no more write data
/// than announced and no absurd read buffer.
/// </summary>
[Trait("Category", "Fuzz")]
public sealed class LogicalUnitFuzzTests
{
    private const int BlockSize = 512;
    private const long StoreSize = 1L << 20; // 2048 blocks: small enough that random LBAs also hit the end of the medium
    private const int MaxDataInRequest = 64 << 20;

    private static readonly ItNexus[] Nexuses =
    [
        FakeScsiTask.DefaultNexus,
        new("iqn.2026-12.test:other", 0x23D000000009, "iqn.2026-12.test:target", 1, 1),
    ];

    private static readonly byte[] Opcodes = typeof(SbcOpcode).GetFields()
        .Where(f => f.IsLiteral && f.FieldType == typeof(byte)).Select(f => (byte)f.GetRawConstantValue()!).Distinct().ToArray();

    private static BlockDeviceLogicalUnit NewUnit() =>
        new(new RamBackingStore(StoreSize), new BlockDeviceOptions { BlockSize = BlockSize, Identity = "fuzz-lu" });

    // The unit's NAA designator (VPD 83h), which an EXTENDED COPY identification descriptor must name; fixed by Identity.
    private static readonly byte[] Naa = ReadNaa();

    private static byte[] ReadNaa()
    {
        var lu = NewUnit();
        var task = new FakeScsiTask(Cdbs.Inquiry(true, 0x83, 255), expectedDataIn: 255);
        var result = lu.ExecuteAsync(task, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var page = task.SentData(result);
        lu.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return page.AsSpan(8, page[7]).ToArray();
    }

    /// <summary>One command: CDB, write data, both expected lengths, and which of two nexuses sends it.</summary>
    internal sealed record Command(byte[] Cdb, byte[] DataOut, int ExpectedOut, int ExpectedIn, int Nexus)
    {
        public override string ToString() =>
            $"[cdb={Convert.ToHexString(Cdb)} out={FuzzCampaign.Hex(DataOut)} edtlOut={ExpectedOut} edtlIn={ExpectedIn} nexus={Nexus}]";
    }

    // ---- valid commands with parameter lists, to be mutated ----

    private static byte[] Cdb(int length, byte opcode, Action<byte[]> fill)
    {
        var c = new byte[length];
        c[0] = opcode;
        fill(c);
        return c;
    }

    private static readonly Gen<(byte[] Cdb, byte[] List)> PrOut =
        Gen.Select(Gen.Byte[0, 8], Gen.Byte[0, 8], Gen.ULong[0, 3], Gen.ULong[0, 3], Gen.Byte, Gen.Bool, (sa, type, key, saKey, flags, withTid) =>
        {
            byte[] list;
            if (sa == 7) // REGISTER AND MOVE: the transport ID of the nexus to move to follows the 24-byte header
            {
                var tid = TransportId(Nexuses[1]);
                list = new byte[24 + tid.Length];
                BinaryPrimitives.WriteUInt64BigEndian(list, key);
                BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), saKey);
                list[17] = (byte)(flags & 0x03);
                BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(18), 1);
                BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(20), (uint)tid.Length);
                tid.CopyTo(list, 24);
            }
            else if (withTid) // SPEC_I_PT: a list of transport IDs to register as well
            {
                var tid = TransportId(Nexuses[1]);
                list = new byte[28 + tid.Length];
                BinaryPrimitives.WriteUInt64BigEndian(list, key);
                BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), saKey);
                list[20] = (byte)(0x08 | (flags & 0x05));
                BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(24), (uint)tid.Length);
                tid.CopyTo(list, 28);
            }
            else
            {
                list = new byte[24];
                BinaryPrimitives.WriteUInt64BigEndian(list, key);
                BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8), saKey);
                list[20] = (byte)(flags & 0x05);
            }
            var cdb = Cdb(10, SbcOpcode.PersistentReserveOut, c =>
            {
                c[1] = sa;
                c[2] = type;
                BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(5), (uint)list.Length);
            });
            return (cdb, list);
        });

    /// <summary>An iSCSI TransportID (SPC-4 §7.6.4.6), format 01: name, ",i,0x", ISID, zero padded to 4 bytes.</summary>
    private static byte[] TransportId(ItNexus nexus)
    {
        var name = System.Text.Encoding.UTF8.GetBytes($"{nexus.InitiatorName},i,0x{nexus.Isid:x12}\0");
        int padded = (name.Length + 3) & ~3;
        var tid = new byte[4 + padded];
        tid[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(tid.AsSpan(2), (ushort)padded);
        name.CopyTo(tid, 4);
        return tid;
    }

    private static readonly Gen<(byte[] Cdb, byte[] List)> Unmap =
        Gen.Select(Gen.ULong[0, 2100], Gen.UInt[0, 300], Gen.Int[1, 4], (lba, blocks, n) =>
        {
            var list = Cdbs.UnmapList(Enumerable.Range(0, n).Select(i => (lba + (ulong)i * 7, blocks)).ToArray());
            return (Cdbs.Unmap((ushort)list.Length), list);
        });

    private static readonly Gen<(byte[] Cdb, byte[] List)> ExtendedCopy =
        Gen.Select(Gen.Byte, Gen.UShort[0, 200], Gen.ULong[0, 2100], Gen.ULong[0, 2100], Gen.Int[1, 2], (listId, blocks, src, dst, segments) =>
        {
            var cscd = new byte[32];
            cscd[0] = 0xE4;
            cscd[4] = 0x01;
            cscd[5] = 0x03;
            cscd[7] = (byte)Naa.Length;
            Naa.CopyTo(cscd, 8);
            cscd[30] = BlockSize >> 8;
            var list = new byte[16 + 32 + 28 * segments];
            list[0] = listId;
            BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), 32);
            BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(8), (uint)(28 * segments));
            cscd.CopyTo(list, 16);
            for (int i = 0; i < segments; i++)
            {
                var s = list.AsSpan(48 + 28 * i, 28);
                s[0] = 0x02; // block device to block device
                BinaryPrimitives.WriteUInt16BigEndian(s[2..], 0x18);
                BinaryPrimitives.WriteUInt16BigEndian(s[10..], blocks);
                BinaryPrimitives.WriteUInt64BigEndian(s[12..], src);
                BinaryPrimitives.WriteUInt64BigEndian(s[20..], dst);
            }
            var cdb = Cdb(16, SbcOpcode.ExtendedCopy, c => BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), (uint)list.Length));
            return (cdb, list);
        });

    private static readonly Gen<(byte[] Cdb, byte[] List)> ModeSelect =
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Bool, Gen.Bool, Gen.Byte, (ten, blockDescriptor, caching, sp, bits) =>
        {
            var pages = new List<byte>();
            if (caching) pages.AddRange(new byte[] { 0x08, 0x12, (byte)(bits & 0x04) }.Concat(new byte[17]));
            else pages.AddRange(new byte[] { 0x0A, 0x0A, (byte)(bits & 0x0e) }.Concat(new byte[9]));
            var descriptor = new byte[8];
            BinaryPrimitives.WriteUInt32BigEndian(descriptor.AsSpan(4), BlockSize);
            int headerLength = ten ? 8 : 4;
            var list = new byte[headerLength + (blockDescriptor ? 8 : 0) + pages.Count];
            if (ten) list[7] = (byte)(blockDescriptor ? 8 : 0);
            else list[3] = (byte)(blockDescriptor ? 8 : 0);
            if (blockDescriptor) descriptor.CopyTo(list, headerLength);
            pages.CopyTo(list, headerLength + (blockDescriptor ? 8 : 0));
            var cdb = ten
                ? Cdb(10, SbcOpcode.ModeSelect10, c => { c[1] = (byte)(0x10 | (sp ? 1 : 0)); BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), (ushort)list.Length); })
                : Cdb(6, SbcOpcode.ModeSelect6, c => { c[1] = (byte)(0x10 | (sp ? 1 : 0)); c[4] = (byte)list.Length; });
            return (cdb, list);
        });

    private static readonly Gen<(byte[] Cdb, byte[] List)> WriteSame =
        Gen.Select(Gen.Bool, Gen.ULong[0, 2100], Gen.UInt[0, 3000], Gen.OneOf<byte>(0, 0x08, 0x10, 0x01, 0x09), Gen.Byte, (sixteen, lba, blocks, flags, fill) =>
        {
            var block = Enumerable.Repeat(fill, BlockSize).ToArray();
            var cdb = sixteen ? Cdbs.WriteSame16(lba, blocks, flags) : Cdbs.WriteSame10((uint)lba, (ushort)blocks, (byte)(flags & 0x18));
            return (cdb, (flags & 0x01) != 0 && sixteen ? [] : block);
        });

    private static readonly Gen<(byte[] Cdb, byte[] List)> CompareAndWrite =
        Gen.Select(Gen.ULong[0, 2100], Gen.Byte[0, 4], (lba, blocks) =>
            (Cdbs.CompareAndWrite(lba, blocks), new byte[2 * blocks * BlockSize])); // a fresh medium reads zeros, so this compare matches

    // CDB bytes to aim extremes at: transfer/parameter-list lengths and LBAs; list bytes: the list's own length fields.
    private static readonly int[] CdbHot = [1, 2, 4, 5, 7, 8, 10, 13];
    private static readonly int[] ListHot = [0, 2, 4, 8, 12, 16, 20, 24, 26, 28, 58];

    private static readonly Gen<Command> ParameterListCommand =
        Gen.Select(Gen.OneOf(PrOut, Unmap, ExtendedCopy, ModeSelect, WriteSame, CompareAndWrite), Gen.Int[0, 4], Mutations.List(4), Mutations.List(4),
            Gen.Int[0, 1], Gen.Int[-64, 64],
            (valid, how, cdbEdits, listEdits, nexus, edtlSkew) =>
            {
                var (cdb, list) = valid;
                // how: 0 valid; 1 list mutated; 2 CDB mutated; 3 both; 4 valid but the announced length skewed
                if (how is 1 or 3) list = Mutations.Apply(list, listEdits, ListHot);
                if (how is 2 or 3) cdb = Mutations.Apply(cdb, cdbEdits, CdbHot);
                int edtl = how == 4 ? Math.Max(0, list.Length + edtlSkew) : list.Length;
                return new Command(cdb, list, edtl, 0, nexus);
            });

    private static readonly Gen<Command> RandomCommand =
        Gen.Select(Gen.OneOf(Gen.OneOf(Opcodes), Gen.Byte), Gen.Byte.Array[5, 31], Gen.Byte.Array[0, 600], Gen.Int[0, 70000], Gen.Int[0, 70000], Gen.Int[0, 1],
            (opcode, rest, data, edtlOut, edtlIn, nexus) =>
            {
                int length = SbcOpcode.CdbLength(opcode) is > 0 and var n && rest[0] % 4 != 0 ? n : rest.Length + 1;
                var cdb = new byte[length];
                cdb[0] = opcode;
                rest.AsSpan(0, Math.Min(rest.Length, length - 1)).CopyTo(cdb.AsSpan(1));
                cdb[^1] &= (byte)(rest[1] % 8 == 0 ? 0xff : 0xfa); // mostly a clean CONTROL byte, so the command gets past it
                bool writes = (rest[2] & 1) == 0;
                return new Command(cdb, data, writes ? Math.Min(edtlOut, data.Length + 64) : 0, writes ? 0 : edtlIn, nexus);
            });

    private static readonly Gen<Command[]> Sequence =
        Gen.Frequency((3, ParameterListCommand), (2, RandomCommand)).Array[1, 4];

    /// <summary>An <see cref="IScsiTask"/> that behaves as the core does at its edges: more write data than announced is
    /// the core's overflow refusal, and the read buffer it hands out is exactly what was asked for.</summary>
    private sealed class FuzzTask(Command command) : IScsiTask
    {
        public ulong Lun => 0;
        public ItNexus Nexus => Nexuses[command.Nexus];
        public ReadOnlyMemory<byte> Cdb => command.Cdb;
        public int ExpectedDataInLength => command.ExpectedIn;
        public int ExpectedDataOutLength => command.ExpectedOut;
        public IEnumerable<ILogicalUnit> LogicalUnitsOfTarget { get; init; } = [];
        public int DataInBuffer = -1;

        public ValueTask<ReadOnlyMemory<byte>> ReceiveDataOutAsync(int length, CancellationToken cancellationToken)
        {
            if (length > ExpectedDataOutLength) throw new DataOutOverflowException(length, ExpectedDataOutLength);
            var data = new byte[Math.Max(0, length)];
            command.DataOut.AsSpan(0, Math.Min(data.Length, command.DataOut.Length)).CopyTo(data);
            return new(data);
        }

        public Memory<byte> GetDataInBuffer(int length)
        {
            Assert.InRange(length, 0, MaxDataInRequest);
            DataInBuffer = Math.Max(DataInBuffer, length);
            return new byte[length];
        }
    }

    private static async Task RunSequence(Command[] commands)
    {
        var lu = NewUnit();
        try
        {
            foreach (var command in commands)
            {
                var task = new FuzzTask(command) { LogicalUnitsOfTarget = [lu] };
                ScsiCommandResult result;
                try
                {
                    result = await lu.ExecuteAsync(task, CancellationToken.None);
                }
                catch (DataOutOverflowException)
                {
                    FuzzCampaign.Count("overflow");
                    continue; // the core answers this one itself (residual overflow), as documented
                }
                Assert.True(Enum.IsDefined(result.Status), $"status 0x{(byte)result.Status:x2}");
                FuzzCampaign.Count(result.Status == ScsiStatus.CheckCondition && result.Sense.Length >= 14
                    ? $"CHECK {result.Sense.Span[2] & 0x0f:x}/{result.Sense.Span[12]:x2}/{result.Sense.Span[13]:x2}"
                    : result.Status.ToString());
                if (result.Status == ScsiStatus.CheckCondition)
                {
                    var sense = result.Sense.Span;
                    Assert.True(sense.Length >= 18, $"CHECK CONDITION with {sense.Length} bytes of sense");
                    Assert.Equal(0x70, sense[0] & 0x7E);
                }
                Assert.True(result.DataInLength >= 0 && result.DataOutLength >= 0);
                int sent = Math.Min(result.DataInLength, command.ExpectedIn);
                if (result.Status == ScsiStatus.Good && sent > 0)
                    Assert.True(task.DataInBuffer >= sent, $"{sent} bytes to send from a {task.DataInBuffer}-byte buffer");
            }
        }
        finally
        {
            await lu.DisposeAsync();
        }
    }

    [Fact]
    public void CommandsAndParameterListsGetAStatusNeverAnException() =>
        FuzzCampaign.Run("logical-unit", Sequence, FuzzCampaign.Sync<Command[]>(RunSequence), s => string.Join(" ", s.Select(c => c.ToString())));
}
