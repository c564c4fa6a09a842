using System.Net;
using Iser.Cli.Client;

namespace Iser.Tests.Cli;

/// <summary>
/// `iser demo` names the step iSER is missing, with the fix to try: the rdma_rxe module, an RDMA device, an address on
/// its interface, permissions (rdma_cm, memlock). Driven by a fake sysfs, /dev, /proc and modules tree, and once by this
/// machine's own state.
/// </summary>
public sealed class IserPrerequisitesTests : IDisposable
{
    private const string Release = "6.1.0-test";
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("iser-rxe-");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void A_kernel_without_rdma_rxe_says_so_and_names_the_kernel()
    {
        var step = IserPrerequisites.FindMissingStep(View());
        Assert.NotNull(step);
        Assert.Equal(IserStep.Module, step.Step);
        Assert.Contains($"kernel {Release} has no rdma_rxe", step.Problem);
        Assert.Contains("CONFIG_RDMA_RXE", step.Fix);
    }

    [Theory]
    [InlineData("dir")]
    [InlineData("modules.dep")]
    public void An_installed_but_unloaded_rdma_rxe_asks_for_modprobe(string evidence)
    {
        if (evidence == "dir") Make($"lib/modules/{Release}/kernel/drivers/infiniband/sw/rxe");
        else Write($"lib/modules/{Release}/modules.dep", "kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko.zst: kernel/drivers/infiniband/core/ib_core.ko.zst\n");
        var step = IserPrerequisites.FindMissingStep(View())!;
        Assert.Equal(IserStep.Module, step.Step);
        Assert.Contains("the rdma_rxe (soft-RoCE) module is not loaded", step.Problem);
        Assert.StartsWith("sudo modprobe rdma_rxe", step.Fix);
    }

    [Fact]
    public void A_loaded_module_without_a_device_asks_for_an_rxe_link()
    {
        Make("sys/module/rdma_rxe");
        Make("sys/class/infiniband");
        var step = IserPrerequisites.FindMissingStep(View())!;
        Assert.Equal(IserStep.Device, step.Step);
        Assert.Contains("no RDMA device", step.Problem);
        Assert.Contains("rdma link add rxe0 type rxe netdev", step.Fix);
    }

    [Fact]
    public void A_device_whose_interface_has_no_address_names_both()
    {
        Device("rxe0", "iser-rxe0");
        var step = IserPrerequisites.FindMissingStep(View(addresses: _ => []))!;
        Assert.Equal(IserStep.Address, step.Step);
        Assert.Contains("rxe0 (on iser-rxe0) has no network interface that is up with an IPv4 address", step.Problem);
        Assert.Contains("dev iser-rxe0", step.Fix);
    }

    [Fact]
    public void A_missing_rdma_cm_device_file_is_a_permission_step()
    {
        Device("rxe0", "iser-rxe0");
        var step = IserPrerequisites.FindMissingStep(View())!;
        Assert.Equal(IserStep.Permission, step.Step);
        Assert.Contains("infiniband/rdma_cm does not exist", step.Problem);
        Assert.Contains("rdma_ucm", step.Fix);
    }

    [Fact]
    public void An_rdma_cm_this_user_may_not_open_is_a_permission_step()
    {
        Device("rxe0", "iser-rxe0");
        Write("dev/infiniband/rdma_cm", "");
        var step = IserPrerequisites.FindMissingStep(View(mayOpen: false))!;
        Assert.Equal(IserStep.Permission, step.Step);
        Assert.Contains("this user may not open", step.Problem);
        Assert.Contains("group that owns it", step.Fix);
    }

    [Theory]
    [InlineData("8388608", false, "8192 KiB")]
    [InlineData("8388608", true, null)]
    [InlineData("unlimited", false, null)]
    [InlineData("134217728", false, null)]
    public void A_small_memlock_limit_is_a_permission_step_unless_privileged(string limit, bool privileged, string? words)
    {
        Device("rxe0", "iser-rxe0");
        Write("dev/infiniband/rdma_cm", "");
        Write("proc/self/limits", $"Limit                     Soft Limit           Hard Limit           Units     \nMax locked memory         {limit}              {limit}              bytes     \n");
        var step = IserPrerequisites.FindMissingStep(View(privileged: privileged));
        if (words is null) Assert.Null(step);
        else
        {
            Assert.NotNull(step);
            Assert.Equal(IserStep.Permission, step.Step);
            Assert.Contains($"ulimit -l) is {words}", step.Problem);
            Assert.Contains("ulimit -l unlimited", step.Fix);
        }
    }

    [NoRdmaDeviceFact]
    public void This_machine_without_an_rdma_device_is_told_the_module_or_device_step()
    {
        var step = IserPrerequisites.FindMissingStep(RdmaHostView.Local);
        Assert.NotNull(step);
        Assert.Equal(Directory.Exists("/sys/module/rdma_rxe") ? IserStep.Device : IserStep.Module, step.Step);
    }

    [NoRdmaDeviceFact]
    public async Task The_demo_asked_for_iser_names_the_missing_step_and_its_fix()
    {
        var step = IserPrerequisites.FindMissingStep(RdmaHostView.Local)!;
        var run = await CliRun.RunAsync("demo", "--transport", "iser", "--size", "3M");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"iSER is not available: {step.Problem}; to fix: {step.Fix}", run.Error);
    }

    private RdmaHostView View(bool privileged = false, bool mayOpen = true, Func<string, IReadOnlyList<IPAddress>>? addresses = null)
    {
        Write("proc/sys/kernel/osrelease", Release + "\n");
        return new RdmaHostView
        {
            SysRoot = Path.Combine(_root.FullName, "sys"),
            DevRoot = Path.Combine(_root.FullName, "dev"),
            ProcRoot = Path.Combine(_root.FullName, "proc"),
            ModulesRoot = Path.Combine(_root.FullName, "lib", "modules"),
            Privileged = privileged,
            MayOpen = _ => mayOpen,
            IPv4AddressesOf = addresses ?? (n => n == "iser-rxe0" ? [IPAddress.Parse("192.168.177.1")] : []),
        };
    }

    /// <summary>An RDMA device whose port 1 has GID 0 on <paramref name="netdev"/>, and GID 1 unused (empty).</summary>
    private void Device(string name, string netdev)
    {
        Make("sys/module/rdma_rxe");
        Write($"sys/class/infiniband/{name}/ports/1/gid_attrs/ndevs/0", netdev + "\n");
        Write($"sys/class/infiniband/{name}/ports/1/gid_attrs/ndevs/1", "");
    }

    private void Make(string relative) => Directory.CreateDirectory(Path.Combine(_root.FullName, relative));

    private void Write(string relative, string text)
    {
        var path = Path.Combine(_root.FullName, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}

/// <summary>A test of this machine's own state when it has no RDMA device; skipped, with the device named, where it has one.</summary>
public sealed class NoRdmaDeviceFactAttribute : FactAttribute
{
    public NoRdmaDeviceFactAttribute()
    {
        const string root = "/sys/class/infiniband";
        if (!OperatingSystem.IsLinux()) Skip = "the missing-step diagnosis reads Linux's sysfs";
        else if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).FirstOrDefault() is { } device)
            Skip = $"this machine has an RDMA device ({Path.GetFileName(device)}); the no-device case needs a host without one";
    }
}
