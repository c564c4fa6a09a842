using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>
/// A fact that needs a working RDMA device (the soft-RoCE lab guest). Skipped, with
/// RdmaRuntime's reason, where there is none. Mark the class [Trait("Category", "Lab")].
/// </summary>
public sealed class LabFactAttribute : FactAttribute
{
    public LabFactAttribute()
    {
        if (!RdmaRuntime.IsSupported)
        {
            Skip = $"needs an RDMA device (run inside the soft-RoCE lab): {RdmaRuntime.NotSupportedReason}";
        }
    }
}
