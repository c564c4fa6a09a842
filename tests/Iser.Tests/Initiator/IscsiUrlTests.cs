using Iser.Core.Iscsi.Initiator;

namespace Iser.Tests.Initiator;

public class IscsiUrlTests
{
    [Fact]
    public void Parses_the_libiscsi_form_with_defaults()
    {
        var url = IscsiUrl.Parse("iscsi://192.0.2.7/iqn.2026-11.org.example:disk/3");
        Assert.Equal(IscsiTransportKind.Tcp, url.Transport);
        Assert.Equal("192.0.2.7", url.Host);
        Assert.Equal(3260, url.Port);
        Assert.Equal("iqn.2026-11.org.example:disk", url.TargetName);
        Assert.Equal(3, url.Lun);
        Assert.Null(url.UserName);
        Assert.Null(url.Password);
    }

    [Fact]
    public void Parses_credentials_port_and_iser_scheme()
    {
        var url = IscsiUrl.Parse("iser://alice%s3cr3t-pass@target.example:3261/iqn.2026-11.org.example:disk/0");
        Assert.Equal(IscsiTransportKind.Iser, url.Transport);
        Assert.Equal("alice", url.UserName);
        Assert.Equal("s3cr3t-pass", url.Password);
        Assert.Equal("target.example", url.Host);
        Assert.Equal(3261, url.Port);
        Assert.Equal(0, url.Lun);
    }

    [Fact]
    public void Percent_decodes_user_password_and_target()
    {
        var url = IscsiUrl.Parse("iscsi://us%40er%p%25ss%2Fword@host/iqn.2026-11.org.example%3Adisk/1");
        Assert.Equal("us@er", url.UserName);
        Assert.Equal("p%ss/word", url.Password);
        Assert.Equal("iqn.2026-11.org.example:disk", url.TargetName);
    }

    [Fact]
    public void Parses_bracketed_ipv6_with_and_without_port()
    {
        var a = IscsiUrl.Parse("iscsi://[fe80::1]:3262/iqn.x:y/2");
        Assert.Equal("fe80::1", a.Host);
        Assert.Equal(3262, a.Port);
        Assert.Equal(2, a.Lun);
        var b = IscsiUrl.Parse("iscsi://[::1]/iqn.x:y/0");
        Assert.Equal("::1", b.Host);
        Assert.Equal(3260, b.Port);
        Assert.Equal("iscsi://[::1]/iqn.x:y/0", b.ToString());
    }

    [Fact]
    public void Portal_only_url_is_for_discovery()
    {
        var url = IscsiUrl.Parse("iscsi+auto://10.0.0.1:3260");
        Assert.Equal(IscsiTransportKind.Auto, url.Transport);
        Assert.Null(url.TargetName);
        Assert.Equal("10.0.0.1", url.Host);
    }

    [Fact]
    public void ToString_never_shows_the_password()
    {
        var url = IscsiUrl.Parse("iscsi://bob%hunter2hunter2@10.1.1.1:3300/iqn.2026-11.org.example:disk/4");
        string text = url.ToString();
        Assert.DoesNotContain("hunter2", text);
        Assert.Equal("iscsi://bob@10.1.1.1:3300/iqn.2026-11.org.example:disk/4", text);
        var options = IscsiSessionOptions.FromUrl(url);
        Assert.Equal("bob", options.Chap!.UserName);
        Assert.Equal("hunter2hunter2", options.Chap.Secret);
        Assert.DoesNotContain("hunter2", options.Chap.ToString());
    }

    [Theory]
    [InlineData("http://host/iqn/0", "scheme")]
    [InlineData("iscsi:///iqn.x:y/0", "no host")]
    [InlineData("iscsi://host:99999/iqn.x:y/0", "port")]
    [InlineData("iscsi://host/iqn.x:y/abc", "LUN")]
    [InlineData("iscsi://fe80::1/iqn.x:y/0", "brackets")]
    [InlineData("iscsi://[fe80::1/iqn.x:y/0", "']'")]
    [InlineData("host/iqn/0", "not an iSCSI URL")]
    public void Rejects_malformed_urls_with_a_reason(string text, string expectedWords)
    {
        Assert.False(IscsiUrl.TryParse(text, out _, out var error));
        Assert.Contains(expectedWords, error);
        Assert.Throws<FormatException>(() => IscsiUrl.Parse(text));
    }

    [Theory]
    [InlineData("192.0.2.1:3260,1", "192.0.2.1", 3260, 1)]
    [InlineData("[2001:db8::5]:3261,7", "2001:db8::5", 3261, 7)]
    [InlineData("target.example", "target.example", 3260, 1)]
    [InlineData("target.example,2", "target.example", 3260, 2)]
    public void Parses_SendTargets_addresses(string value, string host, int port, int tag)
    {
        Assert.True(SendTargetsText.TryParseTargetAddress(value, 3260, out var portal));
        Assert.Equal(host, portal.Host);
        Assert.Equal(port, portal.Port);
        Assert.Equal(tag, portal.PortalGroupTag);
    }
}
