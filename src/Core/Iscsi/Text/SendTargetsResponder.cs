namespace Iser.Core.Iscsi.Text;

/// <summary>
/// Builds the answer to a SendTargets Text request (RFC 7143 §12.3 and Appendix C): for each target, TargetName= then
/// one TargetAddress= per portal. "All" lists every target visible to the initiator (discovery sessions only);
/// a target name lists that target; an empty value lists the session's own target (normal sessions).
/// </summary>
public static class SendTargetsResponder
{
    public const string All = "All";

    /// <param name="sendTargetsValue">The value of the initiator's SendTargets key.</param>
    /// <param name="visibleTargets">Targets this initiator may access (already filtered by ACL).</param>
    /// <param name="currentTargetName">The target of a normal session, or null in a discovery session.</param>
    public static List<TextKeyValue> BuildPairs(string sendTargetsValue, IReadOnlyList<DiscoverableTarget> visibleTargets,
        string? currentTargetName)
    {
        bool discovery = currentTargetName is null;
        IEnumerable<DiscoverableTarget> selected;
        if (sendTargetsValue == All)
        {
            // RFC 7143 §12.1 / Appendix C: on a normal session SendTargets reports only the target the session is
            // connected to; libiscsi (iscsi_discovery_async) and LIO use "All" there, so it means "my target".
            selected = discovery ? visibleTargets : visibleTargets.Where(t => t.Name == currentTargetName);
        }
        else if (sendTargetsValue.Length == 0)
        {
            if (discovery)
                return new List<TextKeyValue> { new(KeyNames.SendTargets, NegotiationValues.Reject) };
            selected = visibleTargets.Where(t => t.Name == currentTargetName);
        }
        else if (!IsIscsiName(sendTargetsValue))
        {
            // Neither All, empty, nor an iSCSI name (iqn./eui./naa.): an invalid value (RFC 7143 §6.2).
            return new List<TextKeyValue> { new(KeyNames.SendTargets, NegotiationValues.Reject) };
        }
        else
        {
            selected = visibleTargets.Where(t => t.Name == sendTargetsValue);
        }

        var pairs = new List<TextKeyValue>();
        foreach (var target in selected)
        {
            pairs.Add(new TextKeyValue(KeyNames.TargetName, target.Name));
            foreach (var portal in target.Portals)
                pairs.Add(new TextKeyValue(KeyNames.TargetAddress, portal.ToTargetAddress()));
        }
        return pairs;
    }

    private static bool IsIscsiName(string value) =>
        value.Length > 4 && (value.StartsWith("iqn.", StringComparison.OrdinalIgnoreCase)
            || value.StartsWith("eui.", StringComparison.OrdinalIgnoreCase)
            || value.StartsWith("naa.", StringComparison.OrdinalIgnoreCase));

    /// <summary>The response text, encoded (may exceed one PDU; split it with <see cref="TextSegmentAssembler.Split"/>).</summary>
    public static byte[] Respond(string sendTargetsValue, IReadOnlyList<DiscoverableTarget> visibleTargets, string? currentTargetName) =>
        TextKeyValueCodec.Encode(BuildPairs(sendTargetsValue, visibleTargets, currentTargetName));
}
