using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Iser.Transport.Iser.Verbs;

/// <summary>
/// IP addresses rdma_cm can use on this machine: those of the network interfaces an RDMA device is bound to
/// (RoCE: /sys/class/infiniband/DEV/ports/N/gid_attrs/ndevs/*). Loopback is never one of them: rdma_cm cannot
/// resolve a route there, so a local iSER portal needs such an address.
/// </summary>
public static class RdmaNetworkAddresses
{
    private const string SysfsRoot = "/sys/class/infiniband";

    /// <summary>The first IPv4 address of an RDMA-capable interface, or null (with no device, or none configured).</summary>
    public static IPAddress? FindIPv4()
    {
        var netdevs = RdmaNetdevNames();
        if (netdevs.Count == 0) return null;
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (!netdevs.Contains(nic.Name) || nic.OperationalStatus == OperationalStatus.Down) continue;
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                if (unicast.Address.AddressFamily == AddressFamily.InterNetwork) return unicast.Address;
        }
        return null;
    }

    private static HashSet<string> RdmaNetdevNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (!Directory.Exists(SysfsRoot)) return names;
        foreach (var device in Directory.EnumerateDirectories(SysfsRoot))
        {
            var ports = Path.Combine(device, "ports");
            if (!Directory.Exists(ports)) continue;
            foreach (var port in Directory.EnumerateDirectories(ports))
            {
                var ndevs = Path.Combine(port, "gid_attrs", "ndevs");
                if (!Directory.Exists(ndevs)) continue;
                foreach (var entry in Directory.EnumerateFiles(ndevs))
                {
                    // Unused GID slots answer reads with an error; only filled ones name a netdev.
                    try { var name = File.ReadAllText(entry).Trim(); if (name.Length > 0) names.Add(name); }
                    catch (IOException) { }
                }
            }
        }
        return names;
    }
}
