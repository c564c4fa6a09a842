using System.CommandLine;
using System.CommandLine.Parsing;
using Iser.Cli.Client;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.CommandLine;

/// <summary>The positional arguments of the client commands, parsed and checked like options.</summary>
internal static class TypedArguments
{
    /// <summary>URL: iscsi://[USER%SECRET@]HOST[:PORT]/IQN/LUN (iser:// for iSER).</summary>
    public static Argument<IscsiUrl> LunUrl() => Parsed("URL", "iscsi://[USER%SECRET@]HOST[:PORT]/IQN/LUN (iser:// for iSER).", PortalAddress.ParseLunUrl);

    /// <summary>PORTAL: HOST[:PORT] (an iscsi:// or iser:// URL works too).</summary>
    public static Argument<IscsiUrl> Portal() => Parsed("PORTAL", "HOST[:PORT] (default port 3260).", PortalAddress.Parse);

    private static Argument<IscsiUrl> Parsed(string name, string description, Func<string, IscsiUrl> parse) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            try
            {
                return parse(r.Tokens.Count > 0 ? r.Tokens[^1].Value : "");
            }
            catch (UsageException e)
            {
                r.AddError(e.Message);
                return null;
            }
        },
    };
}
