using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// A LUN as configuration writes it: a store (<see cref="BackingStoreSpec"/>) with unit flags after commas, ",ro"
/// (write-protected), ",removable" (an ejectable medium) and ",sanitize-time=SECONDS" (the least time a SANITIZE takes,
/// see <see cref="BlockDeviceOptions.SanitizeMinimumDuration"/>), opened as a block device of a node. One reading for the
/// command line, the config file and the hosted service.
/// </summary>
public static class LunSpec
{
    private const string SanitizeTimeFlag = "sanitize-time=";

    /// <summary>Opens the store and builds the unit; a bad spec, flag or reservation file is a <see cref="FormatException"/> naming the spec.</summary>
    public static BlockDeviceLogicalUnit Open(string spec, TargetNode node, int lun, int blockSize, ILogger logger)
    {
        var parts = spec.Split(',');
        var flags = parts.Skip(1).Select(f => f.Trim().ToLowerInvariant()).ToArray();
        var sanitizeTime = TimeSpan.Zero;
        foreach (var flag in flags)
        {
            if (flag.StartsWith(SanitizeTimeFlag, StringComparison.Ordinal))
            {
                if (!double.TryParse(flag[SanitizeTimeFlag.Length..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds)
                    || seconds is < 0 or > 86400)
                    throw new FormatException($"{spec}: {SanitizeTimeFlag} takes seconds from 0 to 86400.");
                sanitizeTime = TimeSpan.FromSeconds(seconds);
            }
            else if (flag is not ("ro" or "removable")) throw new FormatException($"{spec}: unknown flag '{flag}' (ro, removable, {SanitizeTimeFlag}SECONDS).");
        }
        IBackingStore store;
        try { store = BackingStoreSpec.Parse(parts[0]); }
        catch (Exception e) when (e is FormatException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"{spec}: {e.Message}", e);
        }
        var unitOptions = new BlockDeviceOptions
        {
            BlockSize = blockSize,
            Identity = $"{node.Iqn}/{lun}",
            LunList = () => node.Luns.Keys.Select(k => (ulong)k).ToList(),
            // APTPL: a file-backed LUN keeps its persistent reservations beside its data.
            PersistentReservationFile = store is FileBackingStore file ? file.Path + ".pr" : null,
            ReadOnly = flags.Contains("ro") || store.IsReadOnly,
            Removable = flags.Contains("removable"),
            SanitizeMinimumDuration = sanitizeTime,
        };
        try
        {
            return new BlockDeviceLogicalUnit(store, unitOptions, logger);
        }
        catch (InvalidDataException e)
        {
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new FormatException($"{spec}: persistent reservation file {e.Message}", e);
        }
    }
}
