using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Iser.Cli.Client;

/// <summary>
/// Where <see cref="IserPrerequisites"/> looks: the roots of sysfs, /dev, /proc and the kernel's modules, the
/// interfaces' addresses and whether the process is privileged. <see cref="Local"/> is this machine; tests lay out a
/// fake tree and give their own answers.
/// </summary>
internal sealed class RdmaHostView
{
    public string SysRoot { get; init; } = "/sys";
    public string DevRoot { get; init; } = "/dev";
    public string ProcRoot { get; init; } = "/proc";
    public string ModulesRoot { get; init; } = "/lib/modules";
    /// <summary>Root (or CAP_IPC_LOCK and the device files' owner): no memlock limit, every device file opens.</summary>
    public bool Privileged { get; init; }
    /// <summary>The IPv4 addresses of a network interface that is up (none when it is down or absent).</summary>
    public Func<string, IReadOnlyList<IPAddress>> IPv4AddressesOf { get; init; } = _ => [];
    /// <summary>Whether this process may open a device file for reading and writing (false only when refused).</summary>
    public Func<string, bool> MayOpen { get; init; } = MayOpenReadWrite;

    public static RdmaHostView Local { get; } = new()
    {
        Privileged = Environment.IsPrivilegedProcess,
        IPv4AddressesOf = LocalIPv4AddressesOf,
    };

    private static bool MayOpenReadWrite(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        catch (IOException)
        {
            // Opened and refused for another reason (e.g. the device is busy): access itself is not the problem.
            return true;
        }
    }

    private static IReadOnlyList<IPAddress> LocalIPv4AddressesOf(string netdev)
    {
        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == netdev);
        if (nic is null || nic.OperationalStatus == OperationalStatus.Down) return [];
        return nic.GetIPProperties().UnicastAddresses.Select(u => u.Address).Where(a => a.AddressFamily == AddressFamily.InterNetwork).ToList();
    }
}
