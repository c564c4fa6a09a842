using Iser.Core.Scsi.Target.Stores;
using Iser.Storage.Rbd;

[assembly: BackingStoreKind(typeof(RbdStoreKind))]

namespace Iser.Storage.Rbd;

/// <summary>The <c>rbd:</c> kind of LUN spec: found by the spec parser in this assembly, or registered by a program itself.</summary>
public sealed class RbdStoreKind : IBackingStoreKind
{
    public string Name => "rbd";
    public string Syntax => RbdImageSpec.Syntax;

    public IBackingStore Open(string text) => RbdBackingStore.Open(RbdImageSpec.Parse(text));
}
