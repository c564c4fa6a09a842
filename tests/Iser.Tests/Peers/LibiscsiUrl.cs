using System.Globalization;

namespace Iser.Tests.Peers;

/// <summary>Builds libiscsi URLs: iscsi://[user[%secret]@]host:port[/target-iqn/lun].</summary>
public static class LibiscsiUrl
{
    public static string Portal(string portal, ChapCredentials? chap = null) => $"iscsi://{Credentials(chap)}{portal}";

    public static string Lun(string portal, string targetIqn, int lun, ChapCredentials? chap = null) =>
        $"iscsi://{Credentials(chap)}{portal}/{targetIqn}/{lun.ToString(CultureInfo.InvariantCulture)}";

    // libiscsi splits user and secret at '%' and the credentials at '@'; refuse names it would misread.
    private static string Credentials(ChapCredentials? chap)
    {
        if (chap is null)
            return "";
        if ((chap.User + chap.Secret).IndexOfAny(new[] { '%', '@', '/' }) >= 0)
            throw new ArgumentException("CHAP names and secrets in a libiscsi URL cannot contain '%', '@' or '/'.", nameof(chap));
        return $"{chap.User}%{chap.Secret}@";
    }
}
