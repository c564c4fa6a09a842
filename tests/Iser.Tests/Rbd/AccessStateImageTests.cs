using Iser.Core.Scsi.Target.Alua;
using Iser.Storage.Rbd;

namespace Iser.Tests.Rbd;

/// <summary>The payload of the ALUA object beside an rbd image: every gateway's groups (no cluster needed).</summary>
public sealed class AccessStateImageTests
{
    [Fact]
    public void Each_gateways_groups_read_back_as_written()
    {
        List<GatewayGroups> gateways =
        [
            new(4123, [new TargetPortGroup(1, AluaState.ActiveOptimized, TargetPortGroup.NoStatus), new TargetPortGroup(3, AluaState.Standby, TargetPortGroup.AlteredBySetTargetPortGroups)]),
            new(4200, [new TargetPortGroup(2, AluaState.ActiveNonOptimized, TargetPortGroup.AlteredImplicitly)]),
        ];
        var decoded = AccessStateImage.Decode(AccessStateImage.Encode(gateways));
        Assert.Equal(gateways.Select(g => (g.Gateway, g.Groups.ToList())), decoded.Select(g => (g.Gateway, g.Groups.ToList())));
        Assert.Empty(AccessStateImage.Decode([])); // created, nothing published yet
    }

    [Fact]
    public void A_damaged_payload_is_refused()
    {
        var bytes = AccessStateImage.Encode([new GatewayGroups(1, [new TargetPortGroup(1, AluaState.ActiveOptimized, 0)])]);
        Assert.Throws<InvalidDataException>(() => AccessStateImage.Decode(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.Throws<InvalidDataException>(() => AccessStateImage.Decode([.. bytes, 0]));
        bytes[0] = 9;
        Assert.Throws<InvalidDataException>(() => AccessStateImage.Decode(bytes));
    }
}
