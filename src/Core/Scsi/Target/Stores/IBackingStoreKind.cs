namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// A kind of store beyond the built-in ones (<c>rbd:</c>, ...), from an assembly of its own: it turns the text after
/// "<see cref="Name"/>:" into a store. Registered with <see cref="BackingStoreSpec.Register"/>, or found by
/// <see cref="BackingStoreSpec.Parse"/> in an assembly named <c>Iser.Storage.&lt;Name&gt;</c> beside the program that
/// declares it with <see cref="BackingStoreKindAttribute"/>.
/// </summary>
public interface IBackingStoreKind
{
    /// <summary>The prefix before the first colon, lower case.</summary>
    string Name { get; }

    /// <summary>The syntax after the prefix, for error messages, e.g. "rbd:POOL/IMAGE[@SNAPSHOT]".</summary>
    string Syntax { get; }

    /// <summary>Opens the store that <paramref name="text"/> (after the prefix) describes; bad text is a <see cref="FormatException"/> in words.</summary>
    IBackingStore Open(string text);
}
