namespace Iser.Core.Iscsi.Login;

/// <summary>The CSG/NSG stage codes of a Login PDU (RFC 7143 §11.12.3). The value 2 is reserved.</summary>
public enum LoginStage : byte
{
    SecurityNegotiation = 0,
    LoginOperationalNegotiation = 1,
    FullFeaturePhase = 3,
}
