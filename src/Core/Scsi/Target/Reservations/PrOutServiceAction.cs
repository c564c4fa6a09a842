namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>PERSISTENT RESERVE OUT service actions (SPC-4 §6.16.2).</summary>
public enum PrOutServiceAction : byte
{
    Register = 0x00,
    Reserve = 0x01,
    Release = 0x02,
    Clear = 0x03,
    Preempt = 0x04,
    PreemptAndAbort = 0x05,
    RegisterAndIgnoreExistingKey = 0x06,
    RegisterAndMove = 0x07,
}
