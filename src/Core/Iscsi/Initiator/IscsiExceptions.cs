using Iser.Core.Iscsi.Login;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>Base of every failure the initiator reports; the message is a sentence for the user.</summary>
public class IscsiException : Exception
{
    public IscsiException(string message) : base(message) { }
    public IscsiException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The connection to the target broke (or never came up), or the target stopped answering.</summary>
public class IscsiConnectionException : IscsiException
{
    public IscsiConnectionException(string message) : base(message) { }
    public IscsiConnectionException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The login was refused or failed; <see cref="Status"/> is the target's status when it refused.</summary>
public sealed class IscsiLoginException : IscsiException
{
    public LoginStatus? Status { get; }
    public IscsiLoginException(string message, LoginStatus? status = null, Exception? inner = null) : base(message, inner) => Status = status;
}

/// <summary>The target rejected a PDU (RFC 7143 §11.17); <see cref="Reason"/> is the reason code.</summary>
public sealed class IscsiRejectException : IscsiException
{
    public RejectReason Reason { get; }
    public IscsiRejectException(RejectReason reason, string message) : base(message) => Reason = reason;
}

/// <summary>A command did not complete within <see cref="IscsiSessionOptions.CommandTimeout"/> and was aborted.</summary>
public sealed class IscsiCommandTimeoutException : IscsiException
{
    public IscsiCommandTimeoutException(string message) : base(message) { }
}
