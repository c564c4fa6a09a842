namespace Iser.Core.Iscsi.Text;

/// <summary>One <c>key=value</c> pair of iSCSI text data (RFC 7143 §6.1), in the order it appeared.</summary>
public readonly record struct TextKeyValue(string Key, string Value)
{
    public override string ToString() => $"{Key}={Value}";
}
