using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iser.Transport.Iser.Verbs;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Tests.Verbs;

/// <summary>The blittable C# structs have exactly the sizes and field offsets NativeLayout declares.</summary>
public sealed class NativeStructLayoutTests
{
    [Fact]
    public void StructSizesMatchTheLayoutConstants()
    {
        Assert.Equal(NativeLayout.IbvWc.Size, Unsafe.SizeOf<IbvWc>());
        Assert.Equal(NativeLayout.IbvSge.Size, Unsafe.SizeOf<IbvSge>());
        Assert.Equal(NativeLayout.IbvSendWr.Size, Unsafe.SizeOf<IbvSendWr>());
        Assert.Equal(NativeLayout.IbvRecvWr.Size, Unsafe.SizeOf<IbvRecvWr>());
        Assert.Equal(NativeLayout.IbvQpInitAttr.Size, Unsafe.SizeOf<IbvQpInitAttr>());
        Assert.Equal(NativeLayout.RdmaConnParam.Size, Unsafe.SizeOf<RdmaConnParam>());
        Assert.Equal(NativeLayout.RdmaCmEvent.Size, Unsafe.SizeOf<RdmaCmEventNative>());
        Assert.Equal(NativeLayout.SockAddrIn.Size, Unsafe.SizeOf<SockAddrIn>());
        Assert.Equal(NativeLayout.IbvDeviceAttr.Size, Unsafe.SizeOf<IbvDeviceAttrNative>());
        Assert.Equal(NativeLayout.IbvPortAttr.Size, Unsafe.SizeOf<IbvPortAttrNative>());
    }

    [Fact]
    public void SizesAgreeWithTheMeasuredX64Facts()
    {
        // LAB.md's figures, measured with offsetof on rdma-core 44: a second, independent source.
        Assert.Equal(48, Unsafe.SizeOf<IbvWc>());
        Assert.Equal(128, Unsafe.SizeOf<IbvSendWr>());
        Assert.Equal(32, Unsafe.SizeOf<IbvRecvWr>());
        Assert.Equal(16, Unsafe.SizeOf<IbvSge>());
        Assert.Equal(80, Unsafe.SizeOf<RdmaCmEventNative>());
        Assert.Equal(96, NativeLayout.IbvContext.PollCqSlot);
        Assert.Equal(104, NativeLayout.IbvContext.ReqNotifyCqSlot);
        Assert.Equal(208, NativeLayout.IbvContext.PostSendSlot);
        Assert.Equal(216, NativeLayout.IbvContext.PostRecvSlot);
        Assert.Equal(36, NativeLayout.IbvMr.Lkey);
        Assert.Equal(40, NativeLayout.IbvMr.Rkey);
        Assert.Equal(24, NativeLayout.RdmaCmId.Qp);
        Assert.Equal(400, NativeLayout.RdmaCmId.Pd);
    }

    [Fact]
    public void WorkCompletionFieldsSitAtTheirOffsets()
    {
        Assert.Equal(NativeLayout.IbvWc.WrId, (int)Marshal.OffsetOf<IbvWc>(nameof(IbvWc.WrId)));
        Assert.Equal(NativeLayout.IbvWc.Status, (int)Marshal.OffsetOf<IbvWc>(nameof(IbvWc.Status)));
        Assert.Equal(NativeLayout.IbvWc.Opcode, (int)Marshal.OffsetOf<IbvWc>(nameof(IbvWc.Opcode)));
        Assert.Equal(NativeLayout.IbvWc.ByteLen, (int)Marshal.OffsetOf<IbvWc>(nameof(IbvWc.ByteLen)));
        Assert.Equal(NativeLayout.IbvWc.QpNum, (int)Marshal.OffsetOf<IbvWc>(nameof(IbvWc.QpNum)));
        Assert.Equal(NativeLayout.IbvWc.WcFlags, (int)Marshal.OffsetOf<IbvWc>(nameof(IbvWc.WcFlags)));
    }

    [Fact]
    public unsafe void SendWorkRequestPutsRemoteAddressAndKeyInTheRdmaUnion()
    {
        IbvSendWr wr = new() { WrId = 0x1122334455667788, Opcode = SendOpcode.RdmaRead, RemoteAddr = 0xAABBCCDD00112233, Rkey = 0x01020304, NumSge = 3 };
        byte* raw = (byte*)&wr;

        Assert.Equal(0x1122334455667788UL, *(ulong*)(raw + 0));
        Assert.Equal(3, *(int*)(raw + 24));
        Assert.Equal(4 /* IBV_WR_RDMA_READ */, *(int*)(raw + 28));
        Assert.Equal(0xAABBCCDD00112233UL, *(ulong*)(raw + 40));
        Assert.Equal(0x01020304U, *(uint*)(raw + 48));
    }

    [Fact]
    public unsafe void QpInitAttrCarriesCapacitiesInsideTheEmbeddedCap()
    {
        IbvQpInitAttr attr = new() { MaxSendWr = 11, MaxRecvWr = 22, MaxSendSge = 3, MaxRecvSge = 4, MaxInlineData = 64, QpType = 2, SqSigAll = 1 };
        byte* raw = (byte*)&attr;

        Assert.Equal(11U, *(uint*)(raw + 32));
        Assert.Equal(22U, *(uint*)(raw + 36));
        Assert.Equal(3U, *(uint*)(raw + 40));
        Assert.Equal(4U, *(uint*)(raw + 44));
        Assert.Equal(64U, *(uint*)(raw + 48));
        Assert.Equal(2, *(int*)(raw + 52));
        Assert.Equal(1, *(int*)(raw + 56));
    }
}
