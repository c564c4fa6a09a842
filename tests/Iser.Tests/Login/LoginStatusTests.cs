using Iser.Core.Iscsi.Login;

namespace Iser.Tests.Login;

public class LoginStatusTests
{
    [Fact]
    public void Describe_gives_the_RFC_words_and_code()
    {
        Assert.Equal("Initiator error: authentication failed (0x0201)", LoginStatus.AuthenticationFailed.Describe());
        Assert.Equal("Initiator error: target not found (0x0203)", LoginStatus.TargetNotFound.ToString());
        Assert.Equal("Initiator error: missing parameter (0x0207)", LoginStatus.MissingParameter.Describe());
        Assert.Equal("Target error: out of resources (0x0302)", LoginStatus.OutOfResources.Describe());
        Assert.Equal("Redirection: target moved temporarily (0x0101)", LoginStatus.TargetMovedTemporarily.Describe());
        Assert.Equal("Success (0x0000)", LoginStatus.Success.Describe());
        Assert.Equal("Initiator error: unknown status detail 0x7f (0x027f)", new LoginStatus(2, 0x7f).Describe());
    }

    [Fact]
    public void Codes_match_RFC_7143_section_11_13_5()
    {
        Assert.Equal(new LoginStatus(0x02, 0x02), LoginStatus.AuthorizationFailure);
        Assert.Equal(new LoginStatus(0x02, 0x04), LoginStatus.TargetRemoved);
        Assert.Equal(new LoginStatus(0x02, 0x05), LoginStatus.UnsupportedVersion);
        Assert.Equal(new LoginStatus(0x02, 0x06), LoginStatus.TooManyConnections);
        Assert.Equal(new LoginStatus(0x02, 0x08), LoginStatus.CantIncludeInSession);
        Assert.Equal(new LoginStatus(0x02, 0x09), LoginStatus.SessionTypeNotSupported);
        Assert.Equal(new LoginStatus(0x02, 0x0a), LoginStatus.SessionDoesNotExist);
        Assert.Equal(new LoginStatus(0x02, 0x0b), LoginStatus.InvalidDuringLogin);
        Assert.Equal(new LoginStatus(0x03, 0x01), LoginStatus.ServiceUnavailable);
        Assert.True(LoginStatus.Success.IsSuccess);
        Assert.False(LoginStatus.TargetMovedTemporarily.IsSuccess);
        Assert.True(LoginStatus.TargetMovedTemporarily.IsRedirect);
    }
}
