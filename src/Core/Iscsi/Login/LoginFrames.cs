namespace Iser.Core.Iscsi.Login;

/// <summary>
/// The negotiation-relevant fields of a Login Request (RFC 7143 §11.12). The session layer maps it to and from a PDU;
/// <see cref="TextData"/> is this PDU's data segment only (continuations are handled by the negotiators).
/// </summary>
public readonly record struct LoginRequestFrame(bool Transit, bool Continue, LoginStage CurrentStage,
    LoginStage NextStage, byte VersionMax, byte VersionMin, ulong Isid, ushort Tsih, ushort Cid,
    uint CmdSN, ReadOnlyMemory<byte> TextData);

/// <summary>The negotiation-relevant fields of a Login Response (RFC 7143 §11.13).</summary>
public readonly record struct LoginResponseFrame(bool Transit, bool Continue, LoginStage CurrentStage,
    LoginStage NextStage, LoginStatus Status, byte VersionMax, byte VersionActive, ReadOnlyMemory<byte> TextData);
