using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser inq URL`: standard INQUIRY and the VPD pages the device lists on page 0x00 among 0x80 (serial number),
/// 0x83 (device identification) and 0xB0 (block limits), decoded into words.
/// </summary>
internal static class InquiryCommand
{
    public static Command Create(CommandConsole console)
    {
        var urlArgument = TypedArguments.LunUrl();
        var client = new ClientCommandLine();
        var command = new Command("inq", "Standard INQUIRY and VPD pages 0x80, 0x83 and 0xB0, decoded.") { urlArgument };
        client.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(urlArgument)!, client.Read(parse), console, ct));
        return command;
    }

    private static async Task<int> RunAsync(IscsiUrl url, ClientOptions clientOptions, CommandConsole console, CancellationToken ct)
    {
        using var client = clientOptions;

        var session = await ClientConnection.ConnectAsync(client, url, console, ct).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var output = console.Out;
            var inquiry = await session.InquiryAsync(url.Lun, ct).ConfigureAwait(false);
            output.WriteLine("Standard INQUIRY");
            output.WriteLine($"  Peripheral qualifier: {inquiry.PeripheralQualifier}{(inquiry.IsConnected ? " (connected)" : " (not connected)")}");
            output.WriteLine($"  Device type:          {DeviceTypeName(inquiry.DeviceType)} (0x{(byte)inquiry.DeviceType:x2})");
            output.WriteLine($"  Removable:            {YesNo(inquiry.Removable)}");
            output.WriteLine($"  Version:              {inquiry.VersionName}");
            output.WriteLine($"  Response data format: {inquiry.ResponseDataFormat}");
            output.WriteLine($"  HiSup: {YesNo(inquiry.HierarchicalSupport)}  TPGS: {inquiry.TargetPortGroupSupport}  3PC: {YesNo(inquiry.ThirdPartyCopy)}  Protect: {YesNo(inquiry.Protect)}  CmdQue: {YesNo(inquiry.CommandQueueing)}");
            output.WriteLine($"  Vendor:               {inquiry.Vendor}");
            output.WriteLine($"  Product:              {inquiry.Product}");
            output.WriteLine($"  Revision:             {inquiry.Revision}");

            byte[] supported;
            try
            {
                supported = VpdPages.ParseSupportedPages(await session.InquiryVpdAsync(url.Lun, VpdPageCode.SupportedPages, ct).ConfigureAwait(false));
            }
            catch (Exception e) when (e is ScsiCommandException or ScsiDataFormatException)
            {
                output.WriteLine($"VPD pages: not available ({e.Message})");
                return 0;
            }
            output.WriteLine($"VPD pages supported: {string.Join(' ', supported.Select(p => $"0x{p:x2}"))}");
            foreach (byte page in new[] { VpdPageCode.UnitSerialNumber, VpdPageCode.DeviceIdentification, VpdPageCode.BlockLimits })
            {
                if (!supported.Contains(page)) continue;
                try
                {
                    var data = await session.InquiryVpdAsync(url.Lun, page, ct).ConfigureAwait(false);
                    PrintPage(output, page, data);
                }
                catch (Exception e) when (e is ScsiCommandException or ScsiDataFormatException)
                {
                    output.WriteLine($"VPD page 0x{page:x2}: {e.Message}");
                }
            }
        }
        return 0;
    }

    private static void PrintPage(TextWriter output, byte page, byte[] data)
    {
        switch (page)
        {
            case VpdPageCode.UnitSerialNumber:
                output.WriteLine("Unit serial number (VPD 0x80)");
                output.WriteLine($"  {VpdPages.ParseUnitSerialNumber(data)}");
                break;
            case VpdPageCode.DeviceIdentification:
                output.WriteLine("Device identification (VPD 0x83)");
                foreach (var d in VpdPages.ParseDeviceIdentification(data))
                {
                    string protocol = d.ProtocolIdentifierValid ? $", protocol {ProtocolName(d.ProtocolIdentifier)}" : "";
                    output.WriteLine($"  {AssociationName(d.Association)}, {TypeName(d.Type)} ({d.CodeSet}{protocol}): {d.Text}");
                }
                break;
            case VpdPageCode.BlockLimits:
                var limits = VpdPages.ParseBlockLimits(data);
                output.WriteLine("Block limits (VPD 0xB0)");
                output.WriteLine($"  Maximum transfer length:           {Blocks(limits.MaximumTransferLength)}");
                output.WriteLine($"  Optimal transfer length:           {Blocks(limits.OptimalTransferLength)}");
                output.WriteLine($"  Optimal transfer granularity:      {Blocks(limits.OptimalTransferLengthGranularity)}");
                output.WriteLine($"  Maximum COMPARE AND WRITE length:  {Blocks(limits.MaximumCompareAndWriteLength)}");
                output.WriteLine($"  Maximum prefetch length:           {Blocks(limits.MaximumPrefetchLength)}");
                output.WriteLine($"  Maximum UNMAP LBA count:           {Blocks(limits.MaximumUnmapLbaCount)}");
                output.WriteLine($"  Maximum UNMAP descriptors:         {(limits.MaximumUnmapBlockDescriptorCount == 0 ? "none (UNMAP not supported)" : limits.MaximumUnmapBlockDescriptorCount.ToString())}");
                output.WriteLine($"  Optimal UNMAP granularity:         {Blocks(limits.OptimalUnmapGranularity)}");
                output.WriteLine($"  UNMAP granularity alignment:       {(limits.UnmapGranularityAlignmentValid ? limits.UnmapGranularityAlignment.ToString() : "not given")}");
                output.WriteLine($"  Maximum WRITE SAME length:         {Blocks(limits.MaximumWriteSameLength)}");
                break;
        }
    }

    private static string Blocks(ulong value) => value == 0 ? "not reported" : value == 0xffff_ffff ? "no limit" : $"{value} blocks";

    private static string YesNo(bool value) => value ? "yes" : "no";

    public static string DeviceTypeName(PeripheralDeviceType type) => type switch
    {
        PeripheralDeviceType.DirectAccessBlock => "disk",
        PeripheralDeviceType.SequentialAccess => "tape",
        PeripheralDeviceType.Printer => "printer",
        PeripheralDeviceType.Processor => "processor",
        PeripheralDeviceType.WriteOnce => "write-once",
        PeripheralDeviceType.CdDvd => "cd/dvd",
        PeripheralDeviceType.OpticalMemory => "optical",
        PeripheralDeviceType.MediumChanger => "medium changer",
        PeripheralDeviceType.StorageArrayController => "storage array controller",
        _ => $"type 0x{(byte)type:x2}",
    };

    private static string AssociationName(DesignatorAssociation association) => association switch
    {
        DesignatorAssociation.LogicalUnit => "logical unit",
        DesignatorAssociation.TargetPort => "target port",
        DesignatorAssociation.TargetDevice => "target device",
        _ => $"association {(byte)association}",
    };

    private static string TypeName(DesignatorType type) => type switch
    {
        DesignatorType.VendorSpecific => "vendor specific",
        DesignatorType.T10VendorId => "T10 vendor ID",
        DesignatorType.Eui64 => "EUI-64",
        DesignatorType.Naa => "NAA",
        DesignatorType.RelativeTargetPort => "relative target port",
        DesignatorType.TargetPortGroup => "target port group",
        DesignatorType.LogicalUnitGroup => "logical unit group",
        DesignatorType.Md5LogicalUnitIdentifier => "MD5 logical unit identifier",
        DesignatorType.ScsiNameString => "SCSI name string",
        DesignatorType.ProtocolSpecificPortIdentifier => "protocol specific port identifier",
        DesignatorType.Uuid => "UUID",
        _ => $"type 0x{(byte)type:x}",
    };

    private static string ProtocolName(byte protocol) => protocol switch
    {
        0 => "Fibre Channel",
        1 => "parallel SCSI",
        4 => "SRP",
        5 => "iSCSI",
        6 => "SAS",
        _ => $"0x{protocol:x}",
    };
}
