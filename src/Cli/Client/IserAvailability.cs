using Iser.Core.Datamover;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Client;

/// <summary>
/// Whether the iSER transport can be used here, and why not. Looked up by name so the CLI keeps building while
/// Iser.Transport.Iser grows: a <c>RdmaRuntime</c> with <c>IsSupported</c>/<c>NotSupportedReason</c> answers for the
/// machine, and an <c>IserInitiatorTransport</c> type must exist for an initiator to use it.
/// </summary>
internal static class IserAvailability
{
    private const string AssemblyName = "Iser.Transport.Iser";

    /// <summary>Null when iSER can be used; otherwise the reason, as a clause ("no RDMA device ...").</summary>
    public static string? NotAvailableReason()
    {
        var runtime = Type.GetType($"{AssemblyName}.RdmaRuntime, {AssemblyName}");
        if (runtime is not null
            && runtime.GetProperty("IsSupported")?.GetValue(null) is false)
            return runtime.GetProperty("NotSupportedReason")?.GetValue(null) as string ?? "the RDMA runtime reports no support";
        if (InitiatorTransportType() is null)
            return runtime is null && !HasRdmaDevice()
                ? "no RDMA device (/sys/class/infiniband is empty or missing), and the iSER transport is not built yet"
                : "iSER transport not built yet";
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

    private static bool HasRdmaDevice()
    {
        try { return Directory.Exists("/sys/class/infiniband") && Directory.EnumerateFileSystemEntries("/sys/class/infiniband").Any(); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
