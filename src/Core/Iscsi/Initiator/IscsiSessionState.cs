namespace Iser.Core.Iscsi.Initiator;

public enum IscsiSessionState
{
    /// <summary>Full feature phase: commands flow.</summary>
    LoggedIn,
    /// <summary>The connection broke; the session is logging in again and holds its commands.</summary>
    Recovering,
    /// <summary>The connection is gone for good (see <see cref="IscsiSession.FailureReason"/>).</summary>
    Failed,
    LoggedOut,
}
