using static Iser.Tests.ScsiTarget.LuHarness;

namespace Iser.Tests.ScsiTarget;

/// <summary>PERSISTENT RESERVE IN (SPC-4 §6.15) on a unit without registrations.</summary>
public class PersistentReserveInTests
{
    private static byte[] PrIn(byte serviceAction, ushort allocation) =>
        [0x5E, serviceAction, 0, 0, 0, 0, 0, (byte)(allocation >> 8), (byte)allocation, 0];

    [Theory]
    [InlineData(0)] // READ KEYS
    [InlineData(1)] // READ RESERVATION
    [InlineData(3)] // READ FULL STATUS
    public async Task Reports_generation_zero_and_nothing_registered(byte serviceAction)
    {
        await using var lu = RamLu();
        var (r, d) = await In(lu, PrIn(serviceAction, 64), 64);
        AssertGood(r);
        Assert.Equal(8, r.DataInLength);
        Assert.Equal(new byte[8], d[..8]); // PRGENERATION 0, ADDITIONAL LENGTH 0
    }

    [Fact]
    public async Task Report_capabilities_has_length_eight_and_the_type_mask()
    {
        await using var lu = RamLu();
        var (r, d) = await In(lu, PrIn(2, 8), 8);
        AssertGood(r);
        // SIP_C, ATP_C (no PTPL_C without a state file); TMV, ALLOW COMMANDS 011b; all six types.
        Assert.Equal(new byte[] { 0, 8, 0x0C, 0xB0, 0xEA, 0x01, 0, 0 }, d[..8]);
    }

    [Fact]
    public async Task Allocation_length_truncates()
    {
        await using var lu = RamLu();
        var (r, _) = await In(lu, PrIn(0, 4), 4);
        AssertGood(r);
        Assert.Equal(4, r.DataInLength);
    }

    [Fact]
    public async Task Unknown_service_action_is_invalid_field_in_cdb()
    {
        await using var lu = RamLu();
        var (r, _) = await In(lu, PrIn(9, 64), 64);
        AssertInvalidFieldInCdb(r, 1);
    }
}
