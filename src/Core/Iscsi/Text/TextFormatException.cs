namespace Iser.Core.Iscsi.Text;

/// <summary>Text data that breaks the RFC 7143 §6.1 syntax (malformed pair, bad key name, over-long value,
/// duplicate key). The message is a sentence fit for a log or a user.</summary>
public sealed class TextFormatException : FormatException
{
    public TextFormatException(string message) : base(message) { }
}
