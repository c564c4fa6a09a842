namespace Iser.Tests.Peers;

/// <summary>Where peers' file-backed LUNs live: RAM-backed /dev/shm when present, else the temp directory.</summary>
public static class LoopbackStorage
{
    public static string Directory =>
        System.IO.Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();

    /// <summary>Creates a sparse file of <paramref name="sizeInBytes"/> bytes (reads as zeros) and returns its path.</summary>
    public static string CreateSparseFile(long sizeInBytes, string prefix)
    {
        string path = Path.Combine(Directory, $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.SetLength(sizeInBytes);
        return path;
    }

    public static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
