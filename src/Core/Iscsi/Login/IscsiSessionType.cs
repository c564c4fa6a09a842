namespace Iser.Core.Iscsi.Login;

/// <summary>The SessionType key (RFC 7143 §13.21).</summary>
public enum IscsiSessionType
{
    Normal,
    Discovery,
}
