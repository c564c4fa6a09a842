using System.Runtime.InteropServices;
using Iser.Transport.Iser.Verbs.Native;

namespace Iser.Transport.Iser.Verbs;

/// <summary>A completion queue (ibv_cq). Poll and RequestNotification go straight to the provider's ops table.</summary>
public sealed unsafe class CompletionQueue : IDisposable
{
    private readonly VerbsOps _ops;
    private readonly IntPtr _cq;

    internal CompletionQueue(RdmaDevice device, int entries, CompletionChannel? channel)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(entries, 1);
        Device = device;
        Channel = channel;
        IntPtr context = device.Handle.DangerousGetHandle();
        IntPtr channelPointer = channel?.Handle.DangerousGetHandle() ?? IntPtr.Zero;
        SafeHandle[] parents = channel is null ? [device.Handle] : [device.Handle, channel.Handle];
        Handle = NativeObjectHandle.Create(
            NativeObjectKind.CompletionQueue, $"ibv_create_cq({entries} entries)",
            () => LibIbverbs.ibv_create_cq(context, entries, IntPtr.Zero, channelPointer, 0), null, parents);
        _cq = Handle.DangerousGetHandle();
        _ops = device.Ops;
        Capacity = *(int*)((byte*)_cq + NativeLayout.IbvCq.Cqe);
    }

    public RdmaDevice Device { get; }

    public CompletionChannel? Channel { get; }

    /// <summary>The number of entries the provider granted (may exceed what was asked).</summary>
    public int Capacity { get; }

    internal NativeObjectHandle Handle { get; }

    internal IntPtr Pointer => _cq;

    /// <summary>
    /// Takes up to completions.Length work completions (ibv_poll_cq). Returns how many were written.
    /// </summary>
    public int Poll(Span<IbvWc> completions)
    {
        if (completions.IsEmpty)
        {
            return 0;
        }

        using HandleLease lease = new(Handle);
        int n;
        fixed (IbvWc* wc = completions)
        {
            n = _ops.PollCq(lease.Pointer, completions.Length, wc);
        }

        if (n < 0)
        {
            throw new VerbsException("ibv_poll_cq", $"the provider reported error {n} while polling the completion queue.");
        }

        return n;
    }

    /// <summary>Arms the CQ (ibv_req_notify_cq): the next completion raises one event on the channel.</summary>
    public void RequestNotification(bool solicitedOnly = false)
    {
        using HandleLease lease = new(Handle);
        VerbsException.ThrowIfFailed("ibv_req_notify_cq", _ops.ReqNotifyCq(lease.Pointer, solicitedOnly ? 1 : 0));
    }

    public void Dispose() => Handle.Dispose();
}
