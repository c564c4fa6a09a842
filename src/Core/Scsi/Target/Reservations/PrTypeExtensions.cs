namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>The families the six reservation types fall into, which is what the rules of SPC-4 §5.13 depend on.</summary>
public static class PrTypeExtensions
{
    /// <summary>One of the six types a RESERVE or PREEMPT may establish.</summary>
    public static bool IsValid(this PrType type) => type is PrType.WriteExclusive or PrType.ExclusiveAccess
        or PrType.WriteExclusiveRegistrantsOnly or PrType.ExclusiveAccessRegistrantsOnly
        or PrType.WriteExclusiveAllRegistrants or PrType.ExclusiveAccessAllRegistrants;

    /// <summary>Reads pass for every nexus; only writes are restricted.</summary>
    public static bool IsWriteExclusive(this PrType type) => type is PrType.WriteExclusive
        or PrType.WriteExclusiveRegistrantsOnly or PrType.WriteExclusiveAllRegistrants;

    public static bool IsRegistrantsOnly(this PrType type) =>
        type is PrType.WriteExclusiveRegistrantsOnly or PrType.ExclusiveAccessRegistrantsOnly;

    /// <summary>Every registered nexus is a reservation holder (SPC-4 §5.13.10).</summary>
    public static bool IsAllRegistrants(this PrType type) =>
        type is PrType.WriteExclusiveAllRegistrants or PrType.ExclusiveAccessAllRegistrants;

    /// <summary>Registered nexuses that do not hold the reservation still have access (registrants only and all registrants).</summary>
    public static bool AdmitsRegistrants(this PrType type) => type.IsRegistrantsOnly() || type.IsAllRegistrants();
}
