using Microsoft.Extensions.Options;

namespace Iser.Hosting;

/// <summary>Checks the configuration before anything starts, and says in words what is wrong and where.</summary>
public sealed class IscsiTargetHostOptionsValidator : IValidateOptions<IscsiTargetHostOptions>
{
    public ValidateOptionsResult Validate(string? name, IscsiTargetHostOptions options)
    {
        var errors = new List<string>();
        if (options.Portals.Count == 0) errors.Add("Portals: at least one portal (HOST[:PORT][,TPGT]) is needed.");
        for (int i = 0; i < options.Portals.Count; i++)
            if (PortalSpec.TryParse(options.Portals[i], out _, out var problem) is false) errors.Add($"Portals[{i}]: {problem}");
        if (options.Targets.Count == 0) errors.Add("Targets: at least one target is needed.");
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int t = 0; t < options.Targets.Count; t++)
        {
            var target = options.Targets[t];
            string at = $"Targets[{t}]";
            if (string.IsNullOrWhiteSpace(target.Iqn)) errors.Add($"{at}.Iqn: every target needs a name (iqn.YYYY-MM.domain:name).");
            else if (!names.Add(target.Iqn)) errors.Add($"{at}.Iqn: {target.Iqn} appears twice.");
            else if (!target.Iqn.StartsWith("iqn.", StringComparison.OrdinalIgnoreCase) && !target.Iqn.StartsWith("eui.", StringComparison.OrdinalIgnoreCase)
                     && !target.Iqn.StartsWith("naa.", StringComparison.OrdinalIgnoreCase))
                errors.Add($"{at}.Iqn: '{target.Iqn}' is not an iSCSI name (iqn., eui. or naa.).");
            if (target.Luns.Count == 0) errors.Add($"{at}.Luns: a target needs at least one LUN.");
            for (int l = 0; l < target.Luns.Count; l++)
            {
                string spec = target.Luns[l];
                if (!(spec.StartsWith("ram:", StringComparison.Ordinal) || spec.StartsWith("file:", StringComparison.Ordinal) || spec.StartsWith("null:", StringComparison.Ordinal)
                      || spec.StartsWith("rbd:", StringComparison.Ordinal)))
                    errors.Add($"{at}.Luns[{l}]: '{spec}' is not a store (ram:SIZE, file:PATH[:SIZE][:direct], null:SIZE, rbd:POOL/IMAGE[@SNAPSHOT][:conf=PATH][:id=CLIENT][:keyring=PATH]).");
            }
            CheckChap(errors, $"{at}.Chap", target.Chap);
            CheckChap(errors, $"{at}.MutualChap", target.MutualChap);
            if (target.MutualChap is not null && target.Chap is null) errors.Add($"{at}.MutualChap: mutual CHAP needs Chap too.");
        }
        if (options.BlockSize is not (512 or 4096)) errors.Add($"BlockSize: 512 or 4096, not {options.BlockSize}.");
        if (options.ErrorRecoveryLevel is < 0 or > 2) errors.Add($"ErrorRecoveryLevel: 0, 1 or 2, not {options.ErrorRecoveryLevel}.");
        if (options.QueueDepth is < 1 or > 65535) errors.Add($"QueueDepth: 1 to 65535, not {options.QueueDepth}.");
        if (options.MaxConnections is < 1 or > 65535) errors.Add($"MaxConnections: 1 to 65535, not {options.MaxConnections}.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckChap(List<string> errors, string at, ChapOptions? chap)
    {
        if (chap is null) return;
        if (string.IsNullOrWhiteSpace(chap.User)) errors.Add($"{at}.User: a CHAP user name is needed.");
        // RFC 7143 §12.1.3: shorter secrets fall to off-line dictionary attacks.
        if (System.Text.Encoding.UTF8.GetByteCount(chap.Secret) < 12) errors.Add($"{at}.Secret: at least 12 bytes (RFC 7143 §12.1.3).");
    }
}
