using Iser.Core.Iscsi.Sessions;

namespace Iser.Tests.Pdus;

/// <summary>RFC 1982 serial arithmetic as RFC 7143 §4.2.2.1 uses it for CmdSN windows.</summary>
public class SerialNumberTests
{
    [Theory]
    [InlineData(1u, 2u, true)]
    [InlineData(0xffffffffu, 0u, true)]      // wraps
    [InlineData(0u, 0xffffffffu, false)]
    [InlineData(5u, 5u, false)]
    [InlineData(0u, 0x7fffffffu, true)]
    [InlineData(0u, 0x80000001u, false)]     // more than 2^31 ahead means behind
    public void LessThan(uint a, uint b, bool expected) => Assert.Equal(expected, SerialNumber.LessThan(a, b));

    [Fact]
    public void WindowAcrossWrap()
    {
        Assert.True(SerialNumber.InWindow(0xffffffff, 0xfffffffe, 2));
        Assert.True(SerialNumber.InWindow(1, 0xfffffffe, 2));
        Assert.False(SerialNumber.InWindow(3, 0xfffffffe, 2));
        Assert.False(SerialNumber.InWindow(0xfffffffd, 0xfffffffe, 2));
    }
}
