using System.CommandLine;
using Iser.Cli.Commands;

namespace Iser.Cli.CommandLine;

/// <summary>
/// The `iser` command tree: every subcommand with its typed options, built per run so each command writes to the
/// run's <see cref="CommandConsole"/>. Help (`iser --help`, `iser COMMAND --help`) and shell completion (the
/// `[suggest]` directive that dotnet-suggest calls) come from System.CommandLine.
/// </summary>
internal static class IserCommandLine
{
    public static RootCommand Create(CommandConsole console)
    {
        var root = new RootCommand(
            "iser: an iSCSI/iSER target and client.\n" +
            "PORTAL is HOST[:PORT]; URL is iscsi://[USER%SECRET@]HOST[:PORT]/IQN/LUN (iser:// for iSER).\n" +
            "Sizes are bytes or 4k, 128K, 64M, 1G; durations 10, 10s, 500ms, 2m.")
        {
            DemoCommand.Create(console),
            TargetCommandLine.Create(),
            DiscoverCommand.Create(console),
            ListCommand.Create(console),
            InquiryCommand.Create(console),
            ReadCommand.Create(console),
            WriteCommand.Create(console),
            SessionShowCommand.Create(console),
            PerfCommand.Create(console),
        };
        return root;
    }
}
