namespace Iser.Core.Scsi;

/// <summary>The two sense data layouts of SPC-4 (response codes 0x70/0x71 and 0x72/0x73).</summary>
public enum SenseDataFormat
{
    /// <summary>Fixed format, response code 0x70 (current) or 0x71 (deferred).</summary>
    Fixed,
    /// <summary>Descriptor format, response code 0x72 (current) or 0x73 (deferred).</summary>
    Descriptor,
}
