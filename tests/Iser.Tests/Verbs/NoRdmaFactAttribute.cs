using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>
/// A fact about a machine without RDMA (how the project answers there). Inside the soft-RoCE lab it is skipped: the
/// lab tests cover the iSER path that such a machine cannot take.
/// </summary>
public sealed class NoRdmaFactAttribute : FactAttribute
{
    public NoRdmaFactAttribute()
    {
        if (RdmaRuntime.IsSupported)
            Skip = "this machine has an RDMA device: the lab tests cover the iSER path instead";
    }
}
