namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// A unit attention a PERSISTENT RESERVE OUT established: <see cref="Condition"/> for every I_T nexus that
/// <see cref="Recipients"/> covers except <see cref="Except"/>, the nexus the command came through (SPC-4 never
/// reports a change to the nexus that made it).
/// </summary>
public readonly record struct PrUnitAttention(ItNexusPattern Recipients, ItNexus Except, SenseCondition Condition)
{
    public bool Reaches(in ItNexus nexus) => Recipients.Covers(nexus) && !nexus.Equals(Except);
}
