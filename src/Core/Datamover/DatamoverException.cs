namespace Iser.Core.Datamover;

/// <summary>A connection-level failure reported by a transport, with the reason in words.</summary>
public class DatamoverException : IOException
{
    public DatamoverException(string message) : base(message) { }
    public DatamoverException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A PDU could not be accepted (bad digest, oversized segment, bad framing). The connection may continue
/// when <see cref="Recoverable"/> (e.g. a data digest error, which the RFC answers with Reject).</summary>
public sealed class PduFormatException : DatamoverException
{
    public bool Recoverable { get; }
    public byte[]? OffendingHeader { get; }
    public PduFormatException(string message, bool recoverable = false, byte[]? offendingHeader = null) : base(message)
    {
        Recoverable = recoverable;
        OffendingHeader = offendingHeader;
    }
}

/// <summary>Write data failed its data digest; the core ends the task with PROTOCOL SERVICE CRC ERROR (RFC 7143 §7.8).</summary>
public sealed class DataDigestException(string message) : DatamoverException(message);
