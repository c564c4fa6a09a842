namespace Iser.Core.Scsi.Initiator;

/// <summary>PC field of MODE SENSE (SPC-4): which set of mode parameter values to return.</summary>
public enum ModePageControl : byte
{
    Current = 0,
    Changeable = 1,
    Default = 2,
    Saved = 3,
}
