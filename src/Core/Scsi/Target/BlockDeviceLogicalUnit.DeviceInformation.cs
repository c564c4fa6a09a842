using System.Buffers.Binary;

namespace Iser.Core.Scsi.Target;

// INQUIRY, REQUEST SENSE, READ CAPACITY, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, MODE SENSE/SELECT,
// START STOP UNIT (SPC-4 §6, SBC-3 §5).
public sealed partial class BlockDeviceLogicalUnit
{
    private ScsiCommandResult Inquiry(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        bool evpd = (cdb[1] & 0x01) != 0;
        if ((cdb[1] & 0xFE) != 0) return InvalidField(1, (cdb[1] & 0x02) != 0 ? 1 : 7); // CMDDT is obsolete
        byte page = cdb[2];
        int allocation = BinaryPrimitives.ReadUInt16BigEndian(cdb[3..]);
        var alua = task.AccessStates;
        if (!evpd)
        {
            if (page != 0) return InvalidField(2);
            return SendData(task, alua is null ? _inquiry.Standard : _inquiry.StandardWithAlua, allocation);
        }
        // Through a target with ALUA, page 83h also names the target port and its group (RTPI = group = TPGT).
        var vpd = alua is not null && page == InquiryPages.DeviceIdentificationCode
            ? _inquiry.DeviceIdentificationThrough(task.Nexus.RelativeTargetPortId, task.Nexus.Tpgt)
            : _inquiry.Vpd(page);
        return vpd is null ? InvalidField(2) : SendData(task, vpd, allocation);
    }

    private ScsiCommandResult RequestSense(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        // Sense is delivered with each CHECK CONDITION (autosense); what may be pending here is a unit attention, which
        // this reports (and clears) instead of a command failing with it (SPC-4 §6.39).
        if ((cdb[1] & 0x01) != 0) return InvalidField(1, 0); // DESC: only fixed format
        // A running sanitize reports its progress (SBC-4 §4.11); a unit attention waits until it is done.
        if (SanitizeProgressSense() is { } progress) return SendData(task, progress, cdb[4]);
        var condition = _unitAttentions.Take(task.Nexus)
                        ?? AccessStateCondition(task)
                        ?? SanitizeFailureCondition
                        ?? (_stopped ? NotReady : SenseCondition.NoSense);
        var sense = SenseBuilder.Fixed(condition);
        return SendData(task, sense, cdb[4]);
    }

    private ScsiCommandResult ReadCapacity10(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        if (_stopped) return Check(NotReady);
        bool pmi = (cdb[8] & 0x01) != 0;
        if (!pmi && BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]) != 0) return InvalidField(2);
        Span<byte> data = stackalloc byte[8];
        long last = BlockCount - 1;
        // Too large for 32 bits: FFFFFFFFh tells the initiator to use READ CAPACITY(16).
        BinaryPrimitives.WriteUInt32BigEndian(data, last >= uint.MaxValue ? uint.MaxValue : (uint)last);
        BinaryPrimitives.WriteUInt32BigEndian(data[4..], (uint)BlockSize);
        return SendData(task, data, data.Length);
    }

    private ScsiCommandResult ServiceActionIn(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        if ((cdb[1] & 0x1F) != SbcOpcode.ReadCapacity16Action) return InvalidField(1, 4);
        if (_stopped) return Check(NotReady);
        int allocation = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]), int.MaxValue);
        Span<byte> data = stackalloc byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(data, (ulong)(BlockCount - 1));
        BinaryPrimitives.WriteUInt32BigEndian(data[8..], (uint)BlockSize);
        data[12] = 0; // no protection information
        data[13] = (byte)System.Numerics.BitOperations.Log2((uint)_blocksPerPhysical); // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT
        if (_thin) data[14] = 0x80 | 0x40; // LBPME, LBPRZ; lowest aligned LBA 0
        return SendData(task, data, allocation);
    }

    private ScsiCommandResult ReportLuns(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        byte select = cdb[2];
        int allocation = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]), int.MaxValue);
        if (allocation < 4) return InvalidField(6);
        IReadOnlyList<ulong> luns = select switch
        {
            0x00 or 0x02 => _options.LunList?.Invoke() ?? [task.Lun],
            0x01 => [],                 // well-known LUNs only: we have none
            _ => null!,
        };
        if (luns is null) return InvalidField(2);
        var sorted = luns.Where(l => l <= LunAddressing.MaxFlatLun).Distinct().Order().ToArray();
        var data = new byte[8 + 8 * sorted.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(8 * sorted.Length));
        for (int i = 0; i < sorted.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8 + 8 * i), LunAddressing.Encode((int)sorted[i]));
        return SendData(task, data, allocation);
    }

    private ScsiCommandResult MaintenanceIn(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        if ((cdb[1] & 0x1F) == SbcOpcode.TargetPortGroupsAction && task.AccessStates is { } alua) return ReportTargetPortGroups(task, alua, cdb);
        if ((cdb[1] & 0x1F) != SbcOpcode.ReportSupportedOperationCodesAction) return InvalidField(1, 4);
        bool aluaOffered = task.AccessStates is not null;
        bool timeouts = (cdb[2] & 0x80) != 0;
        int options = cdb[2] & 0x07;
        byte requestedOpcode = cdb[3];
        ushort requestedAction = BinaryPrimitives.ReadUInt16BigEndian(cdb[4..]);
        int allocation = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]), int.MaxValue);
        int timeoutLength = timeouts ? 12 : 0;

        if (options == 0)
        {
            int descriptorLength = 8 + timeoutLength;
            int count = aluaOffered ? _operations.Count : _operations.Count(op => !op.NeedsAlua);
            var all = new byte[4 + count * descriptorLength];
            BinaryPrimitives.WriteUInt32BigEndian(all, (uint)(all.Length - 4));
            int p = 4;
            foreach (var op in _operations)
            {
                if (op.NeedsAlua && !aluaOffered) continue;
                all[p] = op.Opcode;
                if (op.ServiceAction is { } sa) BinaryPrimitives.WriteUInt16BigEndian(all.AsSpan(p + 2), sa);
                all[p + 5] = (byte)((timeouts ? 0x02 : 0) | (op.ServiceAction is null ? 0 : 0x01)); // CTDP, SERVACTV
                BinaryPrimitives.WriteUInt16BigEndian(all.AsSpan(p + 6), (ushort)op.Usage.Length);
                if (timeouts) WriteTimeoutsDescriptor(all.AsSpan(p + 8, 12));
                p += descriptorLength;
            }
            return SendData(task, all, allocation);
        }

        SupportedOperations.Operation? found = null;
        bool opcodeHasActions = false;
        foreach (var op in _operations)
        {
            if (op.Opcode != requestedOpcode || (op.NeedsAlua && !aluaOffered)) continue;
            opcodeHasActions = op.ServiceAction is not null;
            if (op.ServiceAction is null || op.ServiceAction == requestedAction) found = op;
        }
        switch (options)
        {
            case 1 when opcodeHasActions: return InvalidField(2, 2);  // this opcode needs its service action
            case 2 when found is { ServiceAction: null }: return InvalidField(2, 2);
            case 1 or 2 or 3: break;
            default: return InvalidField(2, 2);
        }

        int usageLength = found?.Usage.Length ?? 0;
        var one = new byte[4 + usageLength + (found is null ? 0 : timeoutLength)];
        one[1] = (byte)(found is null ? 0x01 : (timeouts ? 0x80 : 0) | 0x03); // SUPPORT: 001b not supported, 011b supported
        BinaryPrimitives.WriteUInt16BigEndian(one.AsSpan(2), (ushort)usageLength);
        if (found is { } f)
        {
            f.Usage.CopyTo(one, 4);
            if (timeouts) WriteTimeoutsDescriptor(one.AsSpan(4 + usageLength, 12));
        }
        return SendData(task, one, allocation);
    }

    private static void WriteTimeoutsDescriptor(Span<byte> d)
    {
        // Command timeouts descriptor (SPC-4 §6.35.4): length 0Ah, no nominal or recommended timeout given.
        d.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(d, 0x0A);
    }

    private ScsiCommandResult ModeSense(IScsiTask task, ReadOnlySpan<byte> cdb)
    {
        bool ten = cdb[0] == SbcOpcode.ModeSense10;
        bool disableBlockDescriptors = (cdb[1] & 0x08) != 0;
        bool longLba = ten && (cdb[1] & 0x10) != 0;
        var pc = (ModePages.PageControl)(cdb[2] >> 6);
        byte pageCode = (byte)(cdb[2] & 0x3F);
        byte subpage = cdb[3];
        int allocation = ten ? BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]) : cdb[4];
        if (pc == ModePages.PageControl.Saved) return CheckAt(SenseCondition.SavingParametersNotSupported, 2, 7);
        byte deviceSpecific = (byte)((WriteProtected ? 0x80 : 0) | (_options.DpoFua ? 0x10 : 0)); // WP, DPOFUA
        ModePages.BlockDescriptor? descriptor = disableBlockDescriptors ? null : new(BlockCount, BlockSize);
        var data = _modes.Sense(ten, pageCode, subpage, pc, descriptor, longLba, deviceSpecific);
        if (data is null) return subpage is not (0x00 or 0xFF) ? InvalidField(3) : InvalidField(2, 5);
        return SendData(task, data, allocation);
    }

    private ValueTask<ScsiCommandResult> ModeSelect(IScsiTask task, ReadOnlySpan<byte> cdb, CancellationToken cancellationToken)
    {
        bool ten = cdb[0] == SbcOpcode.ModeSelect10;
        int listLength = ten ? BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]) : cdb[4];
        if ((cdb[1] & 0x01) != 0) return InvalidFieldDone(1, 0);                   // SP: nothing can be saved
        if (listLength > 0 && (cdb[1] & 0x10) == 0) return InvalidFieldDone(1, 4); // PF: only standard page format
        if (listLength == 0) return Done(ScsiCommandResult.Good());
        int available = Math.Min(listLength, task.ExpectedDataOutLength);
        return ModeSelectAsync(task, ten, available, listLength, cancellationToken);
    }

    private async ValueTask<ScsiCommandResult> ModeSelectAsync(IScsiTask task, bool ten, int available, int listLength, CancellationToken cancellationToken)
    {
        var list = available == 0 ? ReadOnlyMemory<byte>.Empty : await task.ReceiveDataOutAsync(available, cancellationToken).ConfigureAwait(false);
        if (list.Length > available) list = list[..available];
        var refused = _modes.Select(ten, list.Span, BlockSize);
        if (refused is not null) return ScsiCommandResult.CheckCondition(refused, dataOutLength: listLength);
        // The mode pages are shared by every nexus: the others are told (SPC-4 §5.14, MODE PARAMETERS CHANGED).
        if (!list.IsEmpty) _unitAttentions.EstablishForAll(UnitAttentions.ModeParametersChanged, except: task.Nexus);
        return ScsiCommandResult.Good(dataOutLength: listLength);
    }

}
