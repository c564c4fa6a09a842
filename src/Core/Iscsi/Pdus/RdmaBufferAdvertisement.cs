namespace Iser.Core.Iscsi.Pdus;

/// <summary>
/// The STag/VA pairs an iSER initiator advertises for a command's buffers (RFC 7145 §9.2.1). The iSER datamover
/// fills them on receive (target) or from registered memory (initiator); TCP leaves them empty.
/// RFC 7145's Control_Notify carries them as qualifiers, so they travel with the PDU through the seam.
/// </summary>
public struct RdmaBufferAdvertisement
{
    public bool HasWrite;
    public uint WriteStag;
    public ulong WriteVa;
    public bool HasRead;
    public uint ReadStag;
    public ulong ReadVa;
}
