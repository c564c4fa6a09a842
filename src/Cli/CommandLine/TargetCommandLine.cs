using System.CommandLine;
using Iser.Cli.Commands;
using Iser.Core.Scsi.Target.Alua;

namespace Iser.Cli.CommandLine;

/// <summary>
/// `iser target`'s options, typed and described for help and completion; <see cref="TargetCommand"/> reads them by
/// name. Values the config file can also give (queue depth, recovery level, ...) are checked after the two are merged.
/// </summary>
internal static class TargetCommandLine
{
    public static Command Create()
    {
        var command = new Command("target", "Serve LUNs over iSCSI (TCP; iSER too with --iser where an RDMA device exists).")
        {
            TypedOptions.Text("--config", "A JSON file of targets, LUNs and portals; SIGHUP reads it again.", "FILE.json"),
            TypedOptions.Repeated("--portal", $"Listen on HOST:PORT; TPGT is the portal group (default 1). Repeatable; default {TargetCommand.DefaultPortal}.",
                "HOST:PORT[,TPGT]"),
            TypedOptions.Repeated("--alua", $"A portal group's ALUA state ({AluaStateNames.Choices}); every group starts active-optimized. Repeatable.",
                "GROUP=STATE"),
            TypedOptions.Text("--iqn", $"The target's name (default {TargetCommand.DefaultIqn}).", "IQN"),
            TypedOptions.Repeated("--lun", "LUN 0, 1, ... in order: ram:SIZE, file:PATH[:SIZE][:direct] or null:SIZE, then ,ro ,removable " +
                "or ,sanitize-time=SECONDS. Repeatable; default ram:64M.", "SPEC"),
            TypedOptions.Int("--block-size", "Logical block size: 512 or 4096.", 512, 4096),
            TypedOptions.Repeated("--allow", "Only these initiators may log in. Repeatable.", "INITIATOR-IQN"),
            TypedOptions.Text("--chap-user", "CHAP: the user name initiators log in with.", "USER"),
            TypedOptions.Text("--chap-secret", "CHAP: their secret.", "SECRET"),
            TypedOptions.Text("--mutual-user", "Mutual CHAP: the name the target answers with.", "USER"),
            TypedOptions.Text("--mutual-secret", "Mutual CHAP: the target's secret.", "SECRET"),
            TypedOptions.Text("--chap-algorithms", "CHAP algorithms accepted; leave md5 out to refuse it.", "sha256,sha3-256,sha1,md5"),
            TypedOptions.Text("--metrics", "Serve Prometheus text at http://HOST:PORT/metrics.", "HOST:PORT"),
            TypedOptions.Seconds("--nop-interval", "Seconds between NOP-In pings to idle initiators (0 = off)."),
            TypedOptions.Int("--queue-depth", "Commands each session may have in flight.", 1, 65535),
            TypedOptions.Int("--error-recovery-level", "Highest ErrorRecoveryLevel offered (default 2).", 0, 2),
            TypedOptions.Int("--max-connections", "Connections per session offered (default 8).", 1, 65535),
            TypedOptions.Flag("--iser", "Each portal also accepts iSER (same address and port, RDMA port space)."),
            TypedOptions.Seconds("--iser-nop-interval", "Seconds between NOP-In pings on iSER connections (default 5, 0 = off)."),
            ClientCommandLine.LogLevelOption("--log-level", "Minimum log level (default warning)."),
            ClientCommandLine.LogCategoriesOption(),
        };
        // No cancellation token: the target's host handles SIGINT/SIGTERM itself (sessions logged out on the way down).
        command.SetAction((parse, _) => TargetCommand.RunAsync(parse));
        return command;
    }
}
