namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>One registration: the nexuses it covers and their reservation key. Mutable only under the state's lock.</summary>
internal sealed class Registration(ItNexusPattern nexuses, ulong key)
{
    public ItNexusPattern Nexuses { get; } = nexuses;
    public ulong Key { get; set; } = key;
}
