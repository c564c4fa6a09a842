using Iser.Core.Iscsi.Initiator;

namespace Iser.Tests.IserTransport;

/// <summary>What the lab tests that hold many iSER sessions in this process share: thread counts and logging out.</summary>
internal static class LabProcess
{
    /// <summary>Threads of this process whose name starts with <paramref name="prefix"/> (Linux: /proc/self/task/*/comm, 15 characters).</summary>
    public static int Threads(string prefix) =>
        Directory.EnumerateDirectories("/proc/self/task")
            .Select(task =>
            {
                try
                {
                    return File.ReadAllText(Path.Combine(task, "comm"));
                }
                catch (IOException)
                {
                    return ""; // the thread ended meanwhile
                }
            })
            .Count(name => name.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Every session logs out, at once, and is disposed whatever its logout did.</summary>
    public static Task LogOutAllAsync(IEnumerable<IscsiSession> sessions) =>
        Task.WhenAll(sessions.Select(async s =>
        {
            try
            {
                await s.LogoutAsync();
            }
            finally
            {
                await s.DisposeAsync();
            }
        }));
}
