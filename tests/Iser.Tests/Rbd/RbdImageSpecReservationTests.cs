using Iser.Storage.Rbd;

namespace Iser.Tests.Rbd;

/// <summary>The spec's pr= option: where an rbd LUN keeps its persistent reservations (no cluster needed).</summary>
public sealed class RbdImageSpecReservationTests
{
    [Fact]
    public void A_writable_image_shares_its_reservations_unless_pr_local_says_otherwise()
    {
        Assert.True(RbdImageSpec.Parse("rbd/vm1").SharesReservations);
        Assert.True(RbdImageSpec.Parse("rbd/vm1:pr=shared").SharesReservations);
        Assert.False(RbdImageSpec.Parse("rbd/vm1:pr=local").SharesReservations);
        Assert.False(RbdImageSpec.Parse("rbd/vm1:pr=LOCAL:timeout=5").SharesReservations);
    }

    [Fact]
    public void A_snapshot_keeps_its_reservations_per_target()
    {
        Assert.False(RbdImageSpec.Parse("rbd/vm1@monday").SharesReservations);
        Assert.False(RbdImageSpec.Parse("rbd/vm1@monday:pr=shared").SharesReservations);
    }

    [Fact]
    public void Any_other_pr_value_is_refused_in_words()
    {
        var e = Assert.Throws<FormatException>(() => RbdImageSpec.Parse("rbd/vm1:pr=both"));
        Assert.Contains("pr=both", e.Message);
        Assert.Contains("neither shared nor local", e.Message);
    }
}

/// <summary>The spec's alua= option: whether an rbd LUN reports the other gateways' target port groups (no cluster needed).</summary>
public sealed class RbdImageSpecAluaTests
{
    [Fact]
    public void A_writable_image_shares_its_groups_unless_alua_local_says_otherwise()
    {
        Assert.True(RbdImageSpec.Parse("rbd/vm1").SharesAccessStates);
        Assert.False(RbdImageSpec.Parse("rbd/vm1").TakesOverAccess);
        Assert.True(RbdImageSpec.Parse("rbd/vm1:alua=shared").SharesAccessStates);
        Assert.False(RbdImageSpec.Parse("rbd/vm1:alua=local").SharesAccessStates);
        var auto = RbdImageSpec.Parse("rbd/vm1:alua=AUTO:pr=local");
        Assert.True(auto.SharesAccessStates && auto.TakesOverAccess && !auto.SharesReservations);
        Assert.False(RbdImageSpec.Parse("rbd/vm1@monday:alua=auto").SharesAccessStates);
    }

    [Fact]
    public void Any_other_alua_value_is_refused_in_words()
    {
        var e = Assert.Throws<FormatException>(() => RbdImageSpec.Parse("rbd/vm1:alua=on"));
        Assert.Contains("alua=on", e.Message);
        Assert.Contains("none of shared, local, auto", e.Message);
    }
}
