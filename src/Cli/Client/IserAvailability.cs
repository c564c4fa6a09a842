using Iser.Core.Datamover;
using Iser.Transport.Iser.Verbs;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Client;

/// <summary>
/// Whether the iSER transport can be used here, and why not: <see cref="RdmaRuntime"/> answers for the machine
/// (rdma-core loads, an RDMA device exists); the initiator datamover is looked up by name
/// (<c>Iser.Transport.Iser.IserInitiatorTransport</c>) so the CLI picks it up once it exists without changing here.
/// </summary>
internal static class IserAvailability
{
    private const string AssemblyName = "Iser.Transport.Iser";

    /// <summary>Null when iSER can be used; otherwise the reason, as a clause (no final full stop).</summary>
    public static string? NotAvailableReason()
    {
        if (!RdmaRuntime.IsSupported)
        {
            string reason = (RdmaRuntime.NotSupportedReason ?? "RDMA is not supported here").TrimEnd('.', ' ');
            return InitiatorTransportType() is null ? reason + "; the iSER transport is not built yet either" : reason;
        }
        if (InitiatorTransportType() is null)
            return $"an RDMA device is present ({string.Join(", ", RdmaRuntime.DeviceNames)}), but the iSER transport is not built yet";
        return null;
    }

    /// <summary>An iSER initiator transport, when <see cref="NotAvailableReason"/> is null.</summary>
    public static IInitiatorTransport Create(ILogger logger)
    {
        var type = InitiatorTransportType() ?? throw new InvalidOperationException("The iSER transport is not built yet.");
        var withLogger = type.GetConstructor([typeof(ILogger)]);
        return (IInitiatorTransport)(withLogger is not null ? withLogger.Invoke([logger]) : Activator.CreateInstance(type)!);
    }

    private static Type? InitiatorTransportType()
    {
        var type = Type.GetType($"{AssemblyName}.IserInitiatorTransport, {AssemblyName}");
        return type is not null && typeof(IInitiatorTransport).IsAssignableFrom(type) ? type : null;
    }
}
