namespace Iser.Core.Iscsi.Login;

/// <summary>Internal signal: the login must end with <see cref="Status"/>; <see cref="Exception.Message"/> is the reason.</summary>
internal sealed class LoginFailure : Exception
{
    public LoginStatus Status { get; }
    public LoginFailure(LoginStatus status, string reason) : base(reason) => Status = status;
}
