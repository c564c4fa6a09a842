namespace Iser.Core.Iscsi.Login;

/// <summary>A CHAP user name and its shared secret (RFC 7143 §12.1.3).</summary>
public sealed record ChapCredentials(string UserName, string Secret)
{
    // Keep the secret out of logs and exception messages.
    public override string ToString() => $"CHAP user {UserName}";
}
