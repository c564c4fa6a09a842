namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>Whether a command may run given the reservations on its logical unit.</summary>
public enum PrAccess : byte
{
    Allowed,
    /// <summary>Terminate the command with RESERVATION CONFLICT status.</summary>
    Conflict,
}
