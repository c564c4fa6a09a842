namespace Iser.Core.Iscsi.Pdus;

/// <summary>Response field of a Logout Response (RFC 7143 §11.15.1).</summary>
public enum LogoutResponse : byte
{
    ClosedSuccessfully = 0,
    CidNotFound = 1,
    ConnectionRecoveryNotSupported = 2,
    CleanupFailed = 3,
}

public static class LogoutResponseExtensions
{
    public static string Describe(this LogoutResponse response) => response switch
    {
        LogoutResponse.ClosedSuccessfully => "The connection or session was closed successfully.",
        LogoutResponse.CidNotFound => "The target does not know the connection ID named in the logout request.",
        LogoutResponse.ConnectionRecoveryNotSupported => "The target does not support connection recovery, so the connection cannot be removed for recovery.",
        LogoutResponse.CleanupFailed => "The target could not clean up after the logout.",
        _ => $"The target answered the logout with response {(byte)response}, which RFC 7143 does not define.",
    };
}
