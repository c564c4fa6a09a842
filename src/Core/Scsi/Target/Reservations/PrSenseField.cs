namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>Where the field an ILLEGAL REQUEST complains about sits (sense-key specific field pointer, SPC-4 §4.5.2.4.2).</summary>
/// <param name="InCdb">True: a CDB byte; false: a parameter list byte.</param>
public readonly record struct PrSenseField(bool InCdb, int ByteIndex, int? Bit = null);
