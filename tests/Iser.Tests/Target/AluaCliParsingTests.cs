using Iser.Cli;
using Iser.Cli.Config;
using Iser.Core.Scsi.Target.Alua;
using Iser.Hosting;

namespace Iser.Tests.Target;

/// <summary>`iser target --portal HOST:PORT,TPGT` and `--alua GROUP=STATE`, and the config file's forms of both.</summary>
public class AluaCliParsingTests
{
    [Theory]
    [InlineData("127.0.0.1:3260", "127.0.0.1", 3260, 1)]
    [InlineData("127.0.0.2:3261,2", "127.0.0.2", 3261, 2)]
    [InlineData("[::1]:3260,65535", "::1", 3260, 65535)]
    [InlineData("storage.example:3260, 7", "storage.example", 3260, 7)]
    [InlineData("10.0.0.1", "10.0.0.1", 3260, 1)]
    [InlineData("fe80::1,3", "fe80::1", 3260, 3)]
    [InlineData("0.0.0.0:0", "0.0.0.0", 0, 1)]
    public void A_portal_names_its_group_after_a_comma(string text, string host, int port, int tag)
    {
        Assert.Equal(new PortalSpec(host, port, (ushort)tag), PortalSpec.Parse(text));
    }

    [Theory]
    [InlineData("127.0.0.1:3260,0", "whole number from 1 to 65535, not '0'")]
    [InlineData("127.0.0.1:3260,65536", "not '65536'")]
    [InlineData("127.0.0.1:3260,two", "not 'two'")]
    [InlineData("127.0.0.1:3260,", "not ''")]
    [InlineData(",2", "the host is missing")]
    [InlineData("storage.example:iscsi", "is not HOST[:PORT][,TPGT]")]
    [InlineData("127.0.0.1:65536", "is not HOST[:PORT][,TPGT]")]
    [InlineData("[::1:3260", "is not HOST[:PORT][,TPGT]")]
    public void A_bad_portal_group_is_refused_in_words(string text, string words)
    {
        var e = Assert.Throws<FormatException>(() => PortalSpec.Parse(text));
        Assert.Contains(words, e.Message);
        Assert.Contains(text, e.Message);
    }

    [Theory]
    [InlineData("1=active-optimized", 1, AluaState.ActiveOptimized)]
    [InlineData("2=active-non-optimized", 2, AluaState.ActiveNonOptimized)]
    [InlineData("2=standby", 2, AluaState.Standby)]
    [InlineData(" 3 = Unavailable ", 3, AluaState.Unavailable)]
    [InlineData("4=transitioning", 4, AluaState.Transitioning)]
    public void An_alua_setting_is_a_group_and_a_state(string text, int group, AluaState state)
    {
        Assert.Equal(new AluaSpec((ushort)group, state), AluaSpec.Parse(text));
    }

    [Theory]
    [InlineData("2", "expected GROUP=STATE")]
    [InlineData("0=standby", "portal group tag from 1 to 65535, not '0'")]
    [InlineData("x=standby", "not 'x'")]
    [InlineData("2=asleep", "unknown state 'asleep' (one of active-optimized, active-non-optimized, standby, unavailable, transitioning)")]
    public void A_bad_alua_setting_is_refused_in_words(string text, string words)
    {
        var e = Assert.Throws<UsageException>(() => AluaSpec.Parse(text));
        Assert.Contains(words, e.Message);
    }

    [Fact]
    public void An_alua_setting_must_name_a_portal_group_and_the_last_one_for_a_group_wins()
    {
        var e = Assert.Throws<UsageException>(() => AluaSpec.ParseAll(["3=standby"], [1, 2]));
        Assert.Contains("no portal is in group 3 (the portal groups are 1, 2)", e.Message);
        var specs = AluaSpec.ParseAll(["2=standby", "1=active-non-optimized", "2=unavailable"], [1, 2]);
        Assert.Equal([new AluaSpec(1, AluaState.ActiveNonOptimized), new AluaSpec(2, AluaState.Unavailable)], specs);
    }

    [Fact]
    public void The_config_file_takes_portals_with_tags_and_alua_states_by_group()
    {
        var path = Path.Combine(Path.GetTempPath(), $"iser-alua-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """
            { "portals": ["127.0.0.1:3260", "127.0.0.2:3260,2"], "alua": { "2": "standby" },
              "targets": [ { "iqn": "iqn.2026-12.org.iser.test:alua", "luns": ["ram:1M"] } ] }
            """);
        try
        {
            var config = TargetConfigFile.Load(path);
            var portals = config.Portals.Select(PortalSpec.Parse).ToList();
            Assert.Equal([new PortalSpec("127.0.0.1", 3260, 1), new PortalSpec("127.0.0.2", 3260, 2)], portals);
            var alua = AluaSpec.ParseAll(config.AluaSettings(), portals.Select(p => p.PortalGroupTag).ToList());
            Assert.Equal([new AluaSpec(2, AluaState.Standby)], alua);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
