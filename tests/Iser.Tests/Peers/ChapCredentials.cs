namespace Iser.Tests.Peers;

/// <summary>A CHAP name and secret. tgtd wants secrets of 12 to 16 characters (RFC 7143 §12.1.3 suggests ≥ 12).</summary>
public sealed record ChapCredentials(string User, string Secret);
