namespace Iser.Core.Iscsi.Login;

/// <summary>How a target conducts logins on one portal.</summary>
public sealed class TargetLoginPolicy
{
    /// <summary>Values the target offers and accepts.</summary>
    public required OperationalLimits Limits { get; init; }

    /// <summary>Called once InitiatorName, TargetName and SessionType are known (first request); decides the login.</summary>
    public required Func<TargetLookupRequest, TargetLookupResult> LookupTarget { get; init; }

    /// <summary>
    /// RFC 7145 portal: the initiator must negotiate RDMAExtensions=Yes (else the login fails with an initiator error);
    /// the target answers InitialR2T=Yes, ImmediateData=No and digests None, and negotiates
    /// Initiator/TargetRecvDataSegmentLength.
    /// </summary>
    public bool IsIserConnection { get; init; }

    /// <summary>Sent as TargetPortalGroupTag in the first Login Response of a normal session (RFC 7143 §13.9).</summary>
    public ushort TargetPortalGroupTag { get; init; } = 1;

    /// <summary>Largest data segment the initiator accepts during login, before it declares MaxRecvDataSegmentLength;
    /// longer responses are split with the C bit. RFC 7143 §13.12 default is 8192.</summary>
    public int LoginMaxSegmentLength { get; init; } = 8192;

    /// <summary>Largest request/response round count before the target gives up on a login that does not converge.</summary>
    public int MaxExchanges { get; init; } = 64;
}
