using Iser.Transport.Iser.Verbs;

namespace Iser.Cli.Client;

/// <summary>Whether the iSER transport can be used on this machine, and why not (<see cref="RdmaRuntime"/> answers).</summary>
internal static class IserAvailability
{
    /// <summary>Null when iSER can be used; otherwise the reason, as a clause (no final full stop).</summary>
    public static string? NotAvailableReason() =>
        RdmaRuntime.IsSupported ? null : (RdmaRuntime.NotSupportedReason ?? "RDMA is not supported here").TrimEnd('.', ' ');
}
