namespace Iser.Core.Iscsi.Pdus;

/// <summary>Reason Code of a Logout Request (RFC 7143 §11.14.1), without the F bit.</summary>
public enum LogoutReason : byte
{
    CloseSession = 0,
    CloseConnection = 1,
    RemoveConnectionForRecovery = 2,
}

public static class LogoutReasonExtensions
{
    public static string Describe(this LogoutReason reason) => reason switch
    {
        LogoutReason.CloseSession => "Close the session: all connections are closed and all tasks end.",
        LogoutReason.CloseConnection => "Close the connection named by the CID; the session continues on its other connections.",
        LogoutReason.RemoveConnectionForRecovery => "Remove the connection named by the CID so its tasks can be reassigned to another connection.",
        _ => $"Logout reason {(byte)reason} is not defined by RFC 7143.",
    };
}
