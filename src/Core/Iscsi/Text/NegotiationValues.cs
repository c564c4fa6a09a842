namespace Iser.Core.Iscsi.Text;

/// <summary>The reserved constants of text negotiation (RFC 7143 §6.2) and the boolean spellings.</summary>
public static class NegotiationValues
{
    public const string NotUnderstood = "NotUnderstood";
    public const string Reject = "Reject";
    public const string Irrelevant = "Irrelevant";
    public const string None = "None";
    public const string Yes = "Yes";
    public const string No = "No";

    /// <summary>True for the three answers that end a negotiation without agreeing on a value.</summary>
    public static bool IsRefusal(string value) =>
        value is NotUnderstood or Reject or Irrelevant;
}
