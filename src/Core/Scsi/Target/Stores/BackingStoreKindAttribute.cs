namespace Iser.Core.Scsi.Target.Stores;

/// <summary>
/// Names the <see cref="IBackingStoreKind"/> (with a public parameterless constructor) that a store assembly provides,
/// so that a LUN spec of that kind finds it without the program registering it.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class BackingStoreKindAttribute(Type kind) : Attribute
{
    public Type Kind { get; } = kind;
}
