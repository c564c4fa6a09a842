namespace Iser.Tests.Verbs;

/// <summary>
/// A fact that needs gcc and the rdma-core headers (libibverbs-dev, librdmacm-dev) to build
/// native/probe. xunit 2 has no runtime skip, so the condition is evaluated at discovery and
/// the reason is reported as the skip message. CI installs the headers, so there it runs.
/// </summary>
public sealed class ProbeFactAttribute : FactAttribute
{
    public ProbeFactAttribute()
    {
        string? missing = NativeToolchain.MissingForProbe();
        if (missing is not null)
        {
            Skip = missing;
        }
    }
}
