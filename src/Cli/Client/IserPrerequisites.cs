using System.Globalization;

namespace Iser.Cli.Client;

/// <summary>What iSER needs on a Linux host, step by step, in the order they are set up.</summary>
internal enum IserStep
{
    /// <summary>No RDMA device and the soft-RoCE driver (rdma_rxe) not loaded, or not even installed.</summary>
    Module,
    /// <summary>rdma_rxe loaded, but no rxe device made on a network interface.</summary>
    Device,
    /// <summary>An RDMA device whose network interface has no IPv4 address (or is down): rdma_cm has nothing to bind.</summary>
    Address,
    /// <summary>/dev/infiniband missing or closed to this user, or a locked-memory limit too small to register buffers.</summary>
    Permission,
}

/// <summary>The first missing step: what is wrong, and the fix to try.</summary>
internal sealed record IserMissingStep(IserStep Step, string Problem, string Fix)
{
    public override string ToString() => $"{Problem}; to fix: {Fix}";
}

/// <summary>
/// Says which step iSER is missing on this host, from cheap evidence only (directory listings under sysfs and /dev,
/// /proc/self/limits, opening the rdma_cm device file): no verbs call, no module loaded. The rdma-core libraries are
/// <see cref="Iser.Transport.Iser.Verbs.RdmaRuntime"/>'s to check.
/// </summary>
internal static class IserPrerequisites
{
    /// <summary>Buffers the demo and a target register per connection stay well under this; below it, say so.</summary>
    public const long MinimumMemlockBytes = 64L << 20;

    /// <summary>Null when every step is in place; otherwise the first one missing.</summary>
    public static IserMissingStep? FindMissingStep(RdmaHostView host)
    {
        var devices = RdmaDevices(host);
        if (devices.Count == 0) return NoDevice(host);
        var netdevs = devices.SelectMany(d => Netdevs(host, d)).Distinct().ToList();
        if (!netdevs.Any(n => host.IPv4AddressesOf(n).Count > 0))
        {
            string on = netdevs.Count == 0 ? "" : $" (on {string.Join(", ", netdevs)})";
            string netdev = netdevs.Count > 0 ? netdevs[0] : "IFACE";
            return new IserMissingStep(IserStep.Address,
                $"the RDMA device {string.Join(", ", devices)}{on} has no network interface that is up with an IPv4 address, so rdma_cm has no address to bind",
                $"sudo ip addr add 192.168.177.1/24 dev {netdev} && sudo ip link set {netdev} up (or sudo native/rxe-setup.sh up)");
        }
        return PermissionProblem(host);
    }

    private static IserMissingStep NoDevice(RdmaHostView host)
    {
        if (Directory.Exists(Path.Combine(host.SysRoot, "module", "rdma_rxe")))
            return new IserMissingStep(IserStep.Device,
                "the rdma_rxe module is loaded but there is no RDMA device (no rxe link on a network interface)",
                "sudo rdma link add rxe0 type rxe netdev IFACE (or sudo native/rxe-setup.sh up, which makes a dummy interface for it)");
        string release = KernelRelease(host);
        if (!ModuleInstalled(host, release))
            return new IserMissingStep(IserStep.Module,
                $"there is no RDMA device, and kernel {release} has no rdma_rxe (soft-RoCE) module to load",
                "use a kernel built with CONFIG_RDMA_RXE (most distribution kernels; on Ubuntu the linux-modules-extra package), or a host with an RDMA NIC");
        return new IserMissingStep(IserStep.Module,
            "there is no RDMA device, and the rdma_rxe (soft-RoCE) module is not loaded",
            "sudo modprobe rdma_rxe, then sudo native/rxe-setup.sh up (docs/rdma-rxe.md)");
    }

    private static IserMissingStep? PermissionProblem(RdmaHostView host)
    {
        string rdmaCm = Path.Combine(host.DevRoot, "infiniband", "rdma_cm");
        if (!File.Exists(rdmaCm))
            return new IserMissingStep(IserStep.Permission,
                $"{rdmaCm} does not exist (the rdma_ucm module is not loaded, or this container was not given the device)",
                "sudo modprobe rdma_ucm; in a container, pass the devices in (docker run --device /dev/infiniband ...)");
        if (!host.MayOpen(rdmaCm))
            return new IserMissingStep(IserStep.Permission,
                $"this user may not open {rdmaCm}",
                "run as root, or join the group that owns it (ls -l /dev/infiniband; often 'rdma') and log in again");
        if (!host.Privileged && MemlockLimit(host) is long limit && limit < MinimumMemlockBytes)
            return new IserMissingStep(IserStep.Permission,
                string.Create(CultureInfo.InvariantCulture, $"the locked-memory limit (ulimit -l) is {limit >> 10} KiB, too small to register iSER's buffers (at least {MinimumMemlockBytes >> 20} MiB)"),
                "ulimit -l unlimited as root before starting (or a memlock line in /etc/security/limits.conf; LimitMEMLOCK=infinity in a systemd unit)");
        return null;
    }

    private static List<string> RdmaDevices(RdmaHostView host)
    {
        var root = Path.Combine(host.SysRoot, "class", "infiniband");
        return Directory.Exists(root) ? Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList() : [];
    }

    /// <summary>RoCE: the interfaces a device's GIDs are on (ports/N/gid_attrs/ndevs/*); unused slots fail to read.</summary>
    private static IEnumerable<string> Netdevs(RdmaHostView host, string device)
    {
        var ports = Path.Combine(host.SysRoot, "class", "infiniband", device, "ports");
        if (!Directory.Exists(ports)) yield break;
        foreach (var port in Directory.EnumerateDirectories(ports))
        {
            var ndevs = Path.Combine(port, "gid_attrs", "ndevs");
            if (!Directory.Exists(ndevs)) continue;
            foreach (var entry in Directory.EnumerateFiles(ndevs))
            {
                string? name = null;
                try { name = File.ReadAllText(entry).Trim(); }
                catch (IOException) { }
                if (!string.IsNullOrEmpty(name)) yield return name;
            }
        }
    }

    private static string KernelRelease(RdmaHostView host)
    {
        try { return File.ReadAllText(Path.Combine(host.ProcRoot, "sys", "kernel", "osrelease")).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "(unknown)"; }
    }

    /// <summary>rdma_rxe.ko (compressed or not) under the release's modules, or built into the kernel.</summary>
    private static bool ModuleInstalled(RdmaHostView host, string release)
    {
        var modules = Path.Combine(host.ModulesRoot, release);
        if (Directory.Exists(Path.Combine(modules, "kernel", "drivers", "infiniband", "sw", "rxe"))) return true;
        foreach (var index in new[] { "modules.dep", "modules.builtin" })
        {
            try
            {
                if (File.ReadLines(Path.Combine(modules, index)).Any(l => l.Contains("/rdma_rxe.ko", StringComparison.Ordinal))) return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return false;
    }

    /// <summary>/proc/self/limits' "Max locked memory" soft limit in bytes; null when unlimited or unreadable.</summary>
    private static long? MemlockLimit(RdmaHostView host)
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(host.ProcRoot, "self", "limits")))
            {
                if (!line.StartsWith("Max locked memory", StringComparison.Ordinal)) continue;
                var fields = line["Max locked memory".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out long soft) ? soft : null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }
}
