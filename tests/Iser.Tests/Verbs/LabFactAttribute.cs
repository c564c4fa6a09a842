using Iser.Tests.Peers;
using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>
/// A fact that needs a working RDMA device (the soft-RoCE lab guest), and optionally peer programs (<see cref="Needs"/>).
/// Skipped, with the reason, where either is missing: xunit 2 has no runtime skip, so the condition is evaluated at
/// discovery. Mark the class [Trait("Category", "Lab")].
/// </summary>
public sealed class LabFactAttribute : FactAttribute
{
    private string? _skip;

    /// <summary>Programs the test runs, looked up like <see cref="PeerTools.Find"/> (e.g. "iscsi-perf", "tgtd").</summary>
    public string[] Needs { get; set; } = [];

    public override string? Skip
    {
        get => _skip ?? MissingReason(Needs);
        set => _skip = value;
    }

    internal static string? MissingReason(string[] programs)
    {
        if (!RdmaRuntime.IsSupported)
            return $"needs an RDMA device (run inside the soft-RoCE lab): {RdmaRuntime.NotSupportedReason}";
        var missing = programs.Where(p => PeerTools.Find(p) is null).ToArray();
        return missing.Length == 0 ? null
            : $"needs {string.Join(", ", missing)} (part of the lab image: Debian's libiscsi-bin and tgt), not found on PATH or in /usr/sbin";
    }
}
