using System.Net;
using System.Runtime.InteropServices;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Tests.Verbs;

public sealed class SockAddrInTests
{
    [Fact]
    public void EncodesFamilyPortAndAddressInNetworkOrder()
    {
        SockAddrIn sa = SockAddrIn.From(new IPEndPoint(IPAddress.Parse("169.254.10.1"), 3260));
        byte[] bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<SockAddrIn>(ref sa)).ToArray();

        Assert.Equal(new byte[] { 2, 0, 0x0C, 0xBC, 169, 254, 10, 1, 0, 0, 0, 0, 0, 0, 0, 0 }, bytes);
    }

    [Fact]
    public void RefusesIPv6WithASentence()
    {
        ArgumentException ex = Assert.Throws<ArgumentException>(() => SockAddrIn.From(new IPEndPoint(IPAddress.IPv6Loopback, 3260)));
        Assert.Contains("Only IPv4", ex.Message);
    }
}
