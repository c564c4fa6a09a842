using Iser.Core.Datamover;

namespace Iser.Transport.Iser.Protocol;

/// <summary>An iSER message that cannot be understood (short, unknown opcode, oversized). The connection cannot continue.</summary>
public sealed class IserProtocolException(string message) : DatamoverException(message);
