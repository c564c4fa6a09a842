using System.Text;
using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Text;

public class SendTargetsResponderTests
{
    private static readonly DiscoverableTarget[] Targets =
    {
        new("iqn.2026-11.org.example:disk1", new[] { new TargetPortal("10.0.0.1", 3260, 1), new TargetPortal("fe80::1", 3260, 2) }),
        new("iqn.2026-11.org.example:disk2", new[] { new TargetPortal("10.0.0.2", 3261, 1) }),
    };

    [Fact]
    public void All_in_a_discovery_session_lists_every_target_with_its_portals()
    {
        var text = SendTargetsResponder.Respond("All", Targets, currentTargetName: null);
        Assert.Equal(
            "TargetName=iqn.2026-11.org.example:disk1\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=[fe80::1]:3260,2\0" +
            "TargetName=iqn.2026-11.org.example:disk2\0TargetAddress=10.0.0.2:3261,1\0",
            Encoding.ASCII.GetString(text));
    }

    [Fact]
    public void A_target_name_lists_only_that_target()
    {
        var pairs = SendTargetsResponder.BuildPairs("iqn.2026-11.org.example:disk2", Targets, null);
        Assert.Equal(new[] { new TextKeyValue("TargetName", "iqn.2026-11.org.example:disk2"), new TextKeyValue("TargetAddress", "10.0.0.2:3261,1") }, pairs);
    }

    [Fact]
    public void Unknown_or_hidden_target_gives_empty_text()
    {
        Assert.Empty(SendTargetsResponder.BuildPairs("iqn.2026-11.org.example:nope", Targets, null));
    }

    [Fact]
    public void Empty_value_in_a_normal_session_lists_the_current_target()
    {
        var pairs = SendTargetsResponder.BuildPairs("", Targets, "iqn.2026-11.org.example:disk1");
        Assert.Equal(3, pairs.Count);
        Assert.Equal("iqn.2026-11.org.example:disk1", pairs[0].Value);
    }

    [Fact]
    public void All_in_a_normal_session_lists_only_the_current_target()
    {
        var pairs = SendTargetsResponder.BuildPairs("All", Targets, "iqn.2026-11.org.example:disk1");
        Assert.Equal(3, pairs.Count);
        Assert.All(pairs.Where(p => p.Key == "TargetName"), p => Assert.Equal("iqn.2026-11.org.example:disk1", p.Value));
    }

    [Theory]
    [InlineData("Alle")]
    [InlineData("A")]
    [InlineData("disk1")]
    public void A_value_that_is_neither_All_nor_an_iscsi_name_is_rejected(string value)
    {
        var pairs = SendTargetsResponder.BuildPairs(value, Targets, null);
        Assert.Equal(new[] { new TextKeyValue("SendTargets", "Reject") }, pairs);
    }

    [Fact]
    public void Bracketed_ipv6_is_not_bracketed_twice()
    {
        Assert.Equal("[::1]:3260,7", new TargetPortal("[::1]", 3260, 7).ToTargetAddress());
    }
}
