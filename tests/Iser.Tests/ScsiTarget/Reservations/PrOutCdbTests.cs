using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>The PERSISTENT RESERVE OUT CDB (SPC-4 §6.16.1).</summary>
public class PrOutCdbTests
{
    private static byte[] Cdb(byte action, byte scopeType, uint length) =>
        [0x5F, action, scopeType, 0, 0, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length, 0];

    [Fact]
    public void Decodes_service_action_type_and_parameter_list_length()
    {
        Assert.True(PrOutCdb.TryDecode(Cdb(0x05, 0x06, 24), out var d, out _));
        Assert.Equal(new PrOutCdb(PrOutServiceAction.PreemptAndAbort, PrType.ExclusiveAccessRegistrantsOnly, 24), d);
    }

    [Theory]
    [InlineData(0x08)] // REPLACE LOST RESERVATION (SPC-5): not supported
    [InlineData(0x1F)]
    public void An_unknown_service_action_is_an_invalid_field_at_byte_1(byte action)
    {
        Assert.False(PrOutCdb.TryDecode(Cdb(action, 0, 24), out _, out var error));
        AssertInvalidFieldInCdb(error, 1, 4);
    }

    [Theory]
    [InlineData(0x01)]
    [InlineData(0x02)]
    [InlineData(0x04)]
    [InlineData(0x05)]
    public void A_scope_other_than_lu_is_an_invalid_field_where_scope_matters(byte action)
    {
        Assert.False(PrOutCdb.TryDecode(Cdb(action, 0x21, 24), out _, out var error));
        AssertInvalidFieldInCdb(error, 2, 7);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x03)]
    [InlineData(0x06)]
    [InlineData(0x07)]
    public void Scope_is_ignored_where_the_service_action_ignores_it(byte action)
    {
        Assert.True(PrOutCdb.TryDecode(Cdb(action, 0x21, 24), out _, out _));
    }

    [Fact]
    public void A_parameter_list_longer_than_taken_is_refused_before_data_moves()
    {
        Assert.False(PrOutCdb.TryDecode(Cdb(0x00, 0, PrOutCdb.MaxParameterListLength + 1), out _, out var error));
        AssertParameterListLengthError(error);
    }
}
