namespace Iser.Core.Scsi.Target.Reservations;

/// <summary>
/// Keeps a logical unit's APTPL state in a file beside its data, replaced atomically: the image goes to a temporary
/// file that is flushed to disk, renamed over the old one, and the directory is flushed, so after a crash the file
/// holds the old state or the new one, never a mixture. A file that does not check out is refused and left alone.
/// </summary>
public static class PersistentReservationFile
{
    private const string TemporarySuffix = ".tmp";

    /// <summary>
    /// Writes <paramref name="state"/>'s image to <paramref name="path"/>, or deletes the file when APTPL is off (what
    /// power loss would then keep is nothing). Saves of one state are serialised and each writes the state as it is
    /// when its turn comes, so the last save to finish wrote the newest state.
    /// </summary>
    public static void Save(string path, PersistentReservations state)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(state);
        lock (state.SaveGate)
        {
            if (!state.PersistThroughPowerLoss)
            {
                if (File.Exists(path))
                {
                    File.Delete(path);
                    DirectorySync.Flush(path);
                }
                return;
            }
            WriteAtomically(path, state.Serialize());
        }
    }

    /// <summary>
    /// The state saved at <paramref name="path"/>, or null when there is none (the logical unit then starts without
    /// registrations, as after power loss with APTPL off).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is truncated, damaged or unreadable as a reservation image; it is not touched.</exception>
    public static PersistentReservations? Load(string path, PersistentReservationOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] image;
        try { image = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { return null; }
        try { return PersistentReservations.Restore(image, options); }
        catch (InvalidDataException e) { throw new InvalidDataException($"'{path}': {e.Message}", e); }
    }

    private static void WriteAtomically(string path, byte[] image)
    {
        string temporary = path + TemporarySuffix;
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                file.Write(image);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
        DirectorySync.Flush(path);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
