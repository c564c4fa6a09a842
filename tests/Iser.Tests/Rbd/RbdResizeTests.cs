using Iser.Core.Iscsi.Initiator;
using Iser.Core.Scsi;
using Iser.Core.Scsi.Initiator;

namespace Iser.Tests.Rbd;

/// <summary>An image grown by another client (rbd resize) is noticed through librbd's update watch: the initiator is
/// told CAPACITY DATA HAS CHANGED and reads the new capacity.</summary>
[Collection(CephCollection.Name)]
[Trait("Category", "Ceph")]
public sealed class RbdResizeTests(CephCluster cluster)
{
    [CephFact]
    public async Task A_resize_by_rbd_resize_is_reported_as_capacity_data_has_changed_with_the_new_capacity()
    {
        string image = await cluster.CreateImageAsync("resize", 16 << 20);
        await using var rig = await RbdTarget.StartAsync($"rbd:rbd/{image}{cluster.SpecOptions}");
        Assert.Equal(32768, rig.Lun.BlockCount);
        var tur = new byte[6]; // TEST UNIT READY
        Assert.True((await rig.Session.ExecuteAsync(new ScsiCommand(0, tur))).IsGood);

        await cluster.RbdAsync("resize", $"rbd/{image}", "--size", "24M");

        // The watch's notification arrives shortly after the resize: the first command after it meets the unit attention.
        ScsiResponse response = default;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        do
        {
            response = await rig.Session.ExecuteAsync(new ScsiCommand(0, tur));
            if (!response.IsGood) break;
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal(ScsiStatus.CheckCondition, response.Status);
        Assert.Equal(SenseKey.UnitAttention, response.Sense!.SenseKey);
        Assert.Equal((0x2A, 0x09), (response.Sense.Asc, response.Sense.Ascq)); // CAPACITY DATA HAS CHANGED
        var capacity = await rig.Lun.ReadCapacityAsync();
        Assert.Equal(49152UL, capacity.LastLba + 1);
        Assert.Equal(49152, rig.Unit.BlockCount);

        // The new blocks take data.
        var data = new byte[512];
        Random.Shared.NextBytes(data);
        await rig.Lun.WriteAsync(49151, data);
        var back = new byte[512];
        await rig.Lun.ReadAsync(49151, back);
        Assert.Equal(data, back);
    }
}
