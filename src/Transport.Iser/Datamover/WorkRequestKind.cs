namespace Iser.Transport.Iser.Datamover;

/// <summary>What a posted work request was for, so its completion can be routed.</summary>
internal enum WorkRequestKind : byte
{
    Free,
    Receive,
    Send,
    RdmaRead,
    RdmaWrite,
}
