using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Stores;
using Microsoft.Extensions.Logging;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// A LUN as configuration writes it: a store (<see cref="BackingStoreSpec"/>) with unit flags after commas, ",ro"
/// (write-protected) and ",removable" (an ejectable medium), opened as a block device of a node. One reading for the
/// command line, the config file and the hosted service.
/// </summary>
public static class LunSpec
{
    /// <summary>Opens the store and builds the unit; a bad spec, flag or reservation file is a <see cref="FormatException"/> naming the spec.</summary>
    public static BlockDeviceLogicalUnit Open(string spec, TargetNode node, int lun, int blockSize, ILogger logger)
    {
        var parts = spec.Split(',');
        var flags = parts.Skip(1).Select(f => f.Trim().ToLowerInvariant()).ToArray();
        foreach (var flag in flags)
            if (flag is not ("ro" or "removable")) throw new FormatException($"{spec}: unknown flag '{flag}' (ro, removable).");
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
            ReadOnly = flags.Contains("ro"),
            Removable = flags.Contains("removable"),
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
