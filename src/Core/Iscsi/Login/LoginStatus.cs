namespace Iser.Core.Iscsi.Login;

/// <summary>
/// Status-Class and Status-Detail of a Login Response (RFC 7143 §11.13.5). <see cref="Describe"/> gives the RFC's
/// words, e.g. "Initiator error: authentication failed (0x0201)".
/// </summary>
public readonly record struct LoginStatus(byte StatusClass, byte StatusDetail)
{
    public static readonly LoginStatus Success = new(0x00, 0x00);
    public static readonly LoginStatus TargetMovedTemporarily = new(0x01, 0x01);
    public static readonly LoginStatus TargetMovedPermanently = new(0x01, 0x02);
    public static readonly LoginStatus InitiatorError = new(0x02, 0x00);
    public static readonly LoginStatus AuthenticationFailed = new(0x02, 0x01);
    public static readonly LoginStatus AuthorizationFailure = new(0x02, 0x02);
    public static readonly LoginStatus TargetNotFound = new(0x02, 0x03);
    public static readonly LoginStatus TargetRemoved = new(0x02, 0x04);
    public static readonly LoginStatus UnsupportedVersion = new(0x02, 0x05);
    public static readonly LoginStatus TooManyConnections = new(0x02, 0x06);
    public static readonly LoginStatus MissingParameter = new(0x02, 0x07);
    public static readonly LoginStatus CantIncludeInSession = new(0x02, 0x08);
    public static readonly LoginStatus SessionTypeNotSupported = new(0x02, 0x09);
    public static readonly LoginStatus SessionDoesNotExist = new(0x02, 0x0a);
    public static readonly LoginStatus InvalidDuringLogin = new(0x02, 0x0b);
    public static readonly LoginStatus TargetError = new(0x03, 0x00);
    public static readonly LoginStatus ServiceUnavailable = new(0x03, 0x01);
    public static readonly LoginStatus OutOfResources = new(0x03, 0x02);

    public bool IsSuccess => StatusClass == 0;

    /// <summary>Redirection (class 1): the response carries TargetAddress.</summary>
    public bool IsRedirect => StatusClass == 1;

    public string Describe()
    {
        string className = StatusClass switch
        {
            0 => "Success",
            1 => "Redirection",
            2 => "Initiator error",
            3 => "Target error",
            _ => $"Unknown status class {StatusClass}",
        };
        string? detail = ((StatusClass << 8) | StatusDetail) switch
        {
            0x0000 => null,
            0x0101 => "target moved temporarily",
            0x0102 => "target moved permanently",
            0x0200 => "miscellaneous initiator error",
            0x0201 => "authentication failed",
            0x0202 => "authorization failure (the initiator is not allowed to access this target)",
            0x0203 => "target not found",
            0x0204 => "target removed",
            0x0205 => "unsupported version",
            0x0206 => "too many connections",
            0x0207 => "missing parameter",
            0x0208 => "can't include in session",
            0x0209 => "session type not supported",
            0x020a => "session does not exist",
            0x020b => "invalid request during login",
            0x0300 => "miscellaneous target error",
            0x0301 => "service unavailable",
            0x0302 => "out of resources",
            _ => $"unknown status detail 0x{StatusDetail:x2}",
        };
        string code = $"0x{StatusClass:x2}{StatusDetail:x2}";
        return detail is null ? $"{className} ({code})" : $"{className}: {detail} ({code})";
    }

    public override string ToString() => Describe();
}
