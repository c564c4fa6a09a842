using System.Globalization;
using System.Text;

namespace Iser.Core.Iscsi.Initiator;

/// <summary>Which datamover a URL asks for.</summary>
public enum IscsiTransportKind
{
    Tcp,
    Iser,
    /// <summary>Try iSER, fall back to TCP.</summary>
    Auto,
}

/// <summary>
/// A target address in the libiscsi/QEMU form <c>iscsi://[user[%password]@]host[:port]/iqn/lun</c>; the scheme
/// <c>iser://</c> asks for iSER and <c>iscsi+auto://</c> for iSER with TCP fallback. IPv6 literals go in brackets;
/// the user, password and IQN may be percent-encoded. Target and LUN may be left out (discovery).
/// </summary>
public sealed record IscsiUrl
{
    public const int DefaultPort = 3260;

    public IscsiTransportKind Transport { get; init; }
    public string? UserName { get; init; }
    public string? Password { get; init; }
    /// <summary>Host name or address; IPv6 without brackets.</summary>
    public required string Host { get; init; }
    public int Port { get; init; } = DefaultPort;
    public string? TargetName { get; init; }
    public int Lun { get; init; }

    public static IscsiUrl Parse(string text)
    {
        if (TryParse(text, out var url, out var error)) return url;
        throw new FormatException(error);
    }

    public static bool TryParse(string text, out IscsiUrl url, out string? error)
    {
        url = null!;
        error = null;
        if (string.IsNullOrWhiteSpace(text)) return Fail("The URL is empty.", out error);
        int schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0) return Fail($"'{text}' is not an iSCSI URL: expected iscsi://host[:port]/iqn/lun.", out error);
        IscsiTransportKind transport;
        switch (text[..schemeEnd].ToLowerInvariant())
        {
            case "iscsi": transport = IscsiTransportKind.Tcp; break;
            case "iser": transport = IscsiTransportKind.Iser; break;
            case "iscsi+auto": transport = IscsiTransportKind.Auto; break;
            default: return Fail($"Unknown scheme '{text[..schemeEnd]}': use iscsi://, iser:// or iscsi+auto://.", out error);
        }
        string rest = text[(schemeEnd + 3)..];
        int slash = rest.IndexOf('/');
        string authority = slash < 0 ? rest : rest[..slash];
        string path = slash < 0 ? "" : rest[(slash + 1)..];

        string? user = null, password = null;
        int at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            string credentials = authority[..at];
            authority = authority[(at + 1)..];
            // libiscsi separates user and password with '%'; each part may itself be percent-encoded.
            int separator = FindSeparator(credentials);
            string rawUser = separator < 0 ? credentials : credentials[..separator];
            if (!TryDecode(rawUser, out user)) return Fail("The user name is not valid percent-encoding.", out error);
            if (separator >= 0 && !TryDecode(credentials[(separator + 1)..], out password))
                return Fail("The password is not valid percent-encoding.", out error);
            if (user.Length == 0) return Fail("The URL has an empty user name before '@'.", out error);
        }

        string host;
        string? portText = null;
        if (authority.StartsWith('['))
        {
            int close = authority.IndexOf(']');
            if (close < 0) return Fail("The IPv6 address is missing its closing ']'.", out error);
            host = authority[1..close];
            string after = authority[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':') return Fail($"Unexpected '{after}' after the IPv6 address.", out error);
                portText = after[1..];
            }
        }
        else
        {
            int colon = authority.IndexOf(':');
            if (colon >= 0 && authority.IndexOf(':', colon + 1) >= 0)
                return Fail("An IPv6 address must be written in brackets, e.g. iscsi://[::1]:3260/iqn/0.", out error);
            host = colon < 0 ? authority : authority[..colon];
            if (colon >= 0) portText = authority[(colon + 1)..];
        }
        if (host.Length == 0) return Fail("The URL has no host.", out error);
        int port = DefaultPort;
        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
            return Fail($"'{portText}' is not a TCP port (1-65535).", out error);

        string? target = null;
        int lun = 0;
        path = path.TrimEnd('/');
        if (path.Length > 0)
        {
            int lunSlash = path.LastIndexOf('/');
            string rawTarget = lunSlash < 0 ? path : path[..lunSlash];
            if (lunSlash >= 0)
            {
                string lunText = path[(lunSlash + 1)..];
                if (!int.TryParse(lunText, NumberStyles.None, CultureInfo.InvariantCulture, out lun) || lun > 16383)
                    return Fail($"'{lunText}' is not a LUN (0-16383).", out error);
            }
            if (!TryDecode(rawTarget, out target) || target.Length == 0)
                return Fail("The target name is empty or not valid percent-encoding.", out error);
        }
        url = new IscsiUrl { Transport = transport, UserName = user, Password = password, Host = host, Port = port, TargetName = target, Lun = lun };
        return true;
    }

    // The user/password separator is the first '%' that does not start a %XX escape.
    private static int FindSeparator(string credentials)
    {
        for (int i = 0; i < credentials.Length; i++)
        {
            if (credentials[i] != '%') continue;
            bool escape = i + 2 < credentials.Length && Uri.IsHexDigit(credentials[i + 1]) && Uri.IsHexDigit(credentials[i + 2])
                          && credentials.IndexOf('%', i + 1) >= 0;
            if (!escape) return i;
        }
        return -1;
    }

    private static bool TryDecode(string raw, out string decoded)
    {
        decoded = raw;
        if (!raw.Contains('%')) return true;
        var bytes = new List<byte>(raw.Length);
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '%')
            {
                if (i + 2 >= raw.Length || !byte.TryParse(raw.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte b))
                    return false;
                bytes.Add(b);
                i += 2;
            }
            else bytes.AddRange(Encoding.UTF8.GetBytes(raw[i].ToString()));
        }
        decoded = Encoding.UTF8.GetString(bytes.ToArray());
        return true;
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }

    /// <summary>The URL without the password (safe for logs).</summary>
    public override string ToString()
    {
        string scheme = Transport switch { IscsiTransportKind.Iser => "iser", IscsiTransportKind.Auto => "iscsi+auto", _ => "iscsi" };
        var sb = new StringBuilder(scheme).Append("://");
        if (UserName is not null) sb.Append(Uri.EscapeDataString(UserName)).Append('@');
        sb.Append(Host.Contains(':') ? $"[{Host}]" : Host);
        if (Port != DefaultPort) sb.Append(':').Append(Port.ToString(CultureInfo.InvariantCulture));
        if (TargetName is not null) sb.Append('/').Append(TargetName).Append('/').Append(Lun.ToString(CultureInfo.InvariantCulture));
        return sb.ToString();
    }
}
