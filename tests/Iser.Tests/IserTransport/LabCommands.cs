using System.Text;
using Iser.Tests.Peers;
using Xunit.Abstractions;

namespace Iser.Tests.IserTransport;

/// <summary>
/// The host's commands as the lab tests run them: native/lab's scripts found in the repository, every command's output
/// written to the test's output, a failure told in words (what failed, the command, its exit code and its output, stderr
/// lines marked "! "), and Linux's initiator through native/lab/open-iscsi.sh: login (returning the disk the kernel
/// attached), logout and stop.
/// </summary>
internal sealed class LabCommands(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>native/lab/open-iscsi.sh: iscsid and iscsiadm on the host, for one target at a time.</summary>
    public static string OpenIscsiScript => Script("open-iscsi.sh");

    /// <summary>The path of a script in native/lab.</summary>
    public static string Script(string name) => Path.Combine(IserCli.RepositoryRoot ?? throw new InvalidOperationException(
        $"The repository root (holding Iser.sln) was not found above the test output; native/lab/{name} lives there."),
        "native", "lab", name);

    /// <summary>native/lab/lio-iser-target.py, which configures Linux's target (LIO) through configfs; fails the test when
    /// the host lacks what it needs (python3-rtslib-fb, configfs with target_core_mod).</summary>
    public static string LioTargetScript()
    {
        string script = Script("lio-iser-target.py");
        Assert.True(Directory.Exists("/usr/lib/python3/dist-packages/rtslib_fb"),
            "python3-rtslib-fb is not installed on the host (the guest sees the host's root): `apt-get install python3-rtslib-fb`.");
        Assert.True(Directory.Exists("/sys/kernel/config/target"),
            "/sys/kernel/config/target is missing: configfs is not mounted or target_core_mod is not loaded (the lab's /init does both).");
        return script;
    }

    /// <summary>Runs a command (killed after 120 s) and writes what it printed to the test's output.</summary>
    public async Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments)
    {
        var result = await ExternalProcess.RunAsync(program, arguments, Timeout);
        output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>Runs a command that must succeed: fails the test, saying <paramref name="what"/> failed, if it exits other than 0.</summary>
    public async Task<ProcessResult> MustAsync(string program, IEnumerable<string> arguments, string what, Func<string>? context = null)
    {
        var result = await RunAsync(program, arguments);
        AssertSucceeded(result, what, context);
        return result;
    }

    /// <summary>Fails the test unless the command exited with 0: "{what} failed: `command` exited with N …", then its
    /// output (stderr lines marked "! ") and, if given, <paramref name="context"/> (a log tail, say).</summary>
    public static void AssertSucceeded(ProcessResult result, string what, Func<string>? context = null)
    {
        if (result.ExitCode != 0)
            Assert.Fail($"{what} failed: {result}" + (context is null ? "" : "\n" + context()));
    }

    /// <summary>Runs a Python script of the lab with the system's python3 (/usr/bin/python3 carries python3-rtslib-fb; a
    /// python3 earlier on PATH, pyenv and the like, may not).</summary>
    public Task<ProcessResult> RunPythonAsync(string script, string arguments)
    {
        string python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        return RunAsync(python, [script, .. arguments.Split(' ')]);
    }

    /// <summary>The last <paramref name="lines"/> lines of the kernel's log, or why it could not be read.</summary>
    public static async Task<string> DmesgTailAsync(int lines)
    {
        try
        {
            var result = await ExternalProcess.RunAsync("dmesg", [], TimeSpan.FromSeconds(30));
            var all = result.Stdout.Split('\n');
            return new StringBuilder().AppendJoin('\n', all.Skip(Math.Max(0, all.Length - lines))).ToString();
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            return $"(dmesg could not be read: {e.Message})";
        }
    }

    /// <summary>open-iscsi.sh with these arguments, whatever its exit code.</summary>
    public Task<ProcessResult> OpenIscsiAsync(IEnumerable<string> arguments) => RunAsync(OpenIscsiScript, arguments);

    /// <summary>
    /// Logs open-iscsi in to <paramref name="target"/> (open-iscsi.sh's login arguments: portal, IQN, transport and the
    /// like) and returns the disk the kernel attached for it (/dev/sdX, the script's last line).
    /// </summary>
    public async Task<string> LoginAsync(IEnumerable<string> target, string what, Func<string>? context = null)
    {
        var login = await MustAsync(OpenIscsiScript, ["login", .. target], what, context);
        string disk = login.Stdout.Trim().Split('\n')[^1].Trim();
        Assert.StartsWith("/dev/sd", disk);
        return disk;
    }

    /// <summary>Logs open-iscsi out of <paramref name="target"/> (and drops its node record).</summary>
    public Task LogoutAsync(IEnumerable<string> target, string what) => MustAsync(OpenIscsiScript, ["logout", .. target], what);

    /// <summary>Logs out of everything and stops iscsid; the caller checks the result (<see cref="AssertStopped"/>) once it
    /// has cleaned up.</summary>
    public Task<ProcessResult> StopAsync() => OpenIscsiAsync(["stop"]);

    public static void AssertStopped(ProcessResult stop) => AssertSucceeded(stop, "stopping open-iscsi");
}
