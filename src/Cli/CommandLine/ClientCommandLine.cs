using System.CommandLine;
using Iser.Cli.Client;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Transport.Iser.Datamover;
using Iser.Transport.Tcp;

namespace Iser.Cli.CommandLine;

/// <summary>
/// The options every client command (discover, ls, inq, read, write, session show, perf) shares, declared once and
/// added to each; <see cref="Read"/> turns what was parsed into <see cref="ClientOptions"/>.
/// </summary>
internal sealed class ClientCommandLine
{
    private readonly Option<string> _initiatorName = TypedOptions.Text("--initiator-name", "The initiator's IQN (default: one made from the host name).", "IQN");
    private readonly Option<string> _chapUser = TypedOptions.Text("--chap-user", "CHAP user name (or iscsi://USER%SECRET@host/... in the URL).", "USER");
    private readonly Option<string> _chapSecret = TypedOptions.Text("--chap-secret", "CHAP secret.", "SECRET");
    private readonly Option<string> _mutualUser = TypedOptions.Text("--mutual-user", "Mutual CHAP: the user name the target answers with.", "USER");
    private readonly Option<string> _mutualSecret = TypedOptions.Text("--mutual-secret", "Mutual CHAP: the target's secret.", "SECRET");
    private readonly Option<IReadOnlyList<ChapAlgorithm>> _chapAlgorithms = ChapAlgorithmsOption("--chap-algorithms",
        "CHAP algorithms offered, preferred first, e.g. sha256,md5 (default md5, as open-iscsi).");
    private readonly Option<string> _headerDigest = DigestOption("--header-digest");
    private readonly Option<string> _dataDigest = DigestOption("--data-digest");
    private readonly Option<int?> _errorRecoveryLevel = TypedOptions.Int("--error-recovery-level",
        "Highest ErrorRecoveryLevel offered; the target's offer may lower it.", 0, IscsiSessionOptions.MaxSupportedErrorRecoveryLevel);
    private readonly Option<int?> _maxConnections = TypedOptions.Int("--max-connections",
        "Connections in the session (MC/S); the target's offer may lower it. Default 1.", 1, IscsiSessionOptions.MaxSupportedConnections);
    private readonly Option<TransportChoice?> _transport = TypedOptions.Choice<TransportChoice?>("--transport",
        "auto tries iSER and falls back to TCP; default: the URL's scheme (iser:// or iscsi://).",
        [("auto", TransportChoice.Auto), ("tcp", TransportChoice.Tcp), ("iser", TransportChoice.Iser)]);
    private readonly Option<string> _logLevel = LogLevelOption("--log-level", "Minimum log level on stderr (default error).");
    private readonly Option<string> _log = LogCategoriesOption();
    private readonly Option<CompletionOptions> _completions = TypedOptions.Choice<CompletionOptions>("--completions",
        "Where completions run; poll keeps a core busy.",
        [("threadpool", new CompletionOptions()), ("inline", new CompletionOptions { Inline = true }),
         ("poll", new CompletionOptions { BusyPoll = true }), ("inline+poll", new CompletionOptions { Inline = true, BusyPoll = true }),
         ("poll+inline", new CompletionOptions { Inline = true, BusyPoll = true })])!;
    private readonly Option<TcpInitiatorOptions> _tcpReceive = TypedOptions.Choice<TcpInitiatorOptions>("--tcp-receive",
        "TCP: a receive thread per connection (the default on Linux) or the runtime's async sockets.",
        [("thread", new TcpInitiatorOptions { ReceiveThread = true }), ("pool", new TcpInitiatorOptions { ReceiveThread = false })])!;
    private readonly Option<IserOptions> _iserQueues = TypedOptions.Choice<IserOptions>("--iser-queues",
        "iSER: the process's connections on a device share a receive queue, send buffers and CQ threads (the default), or each has its own.",
        [("shared", new IserOptions()), ("own", new IserOptions { ShareConnectionResources = false })])!;

    public void AddTo(Command command)
    {
        foreach (var option in new Option[]
                 {
                     _initiatorName, _chapUser, _chapSecret, _mutualUser, _mutualSecret, _chapAlgorithms, _headerDigest, _dataDigest,
                     _errorRecoveryLevel, _maxConnections, _transport, _logLevel, _log, _completions, _tcpReceive, _iserQueues,
                 })
            command.Options.Add(option);
    }

    public ClientOptions Read(ParseResult parse)
    {
        var chap = Credentials(parse, _chapUser, _chapSecret);
        var mutual = Credentials(parse, _mutualUser, _mutualSecret);
        // Errors reach the user as the command's one sentence; the library's own warnings would say it twice.
        var loggerFactory = Logging.Create(parse.GetValue(_logLevel) ?? "error", parse.GetValue(_log));
        return new ClientOptions(loggerFactory, parse.GetValue(_initiatorName), chap, mutual, parse.GetValue(_chapAlgorithms),
            parse.GetValue(_headerDigest), parse.GetValue(_dataDigest), parse.GetValue(_transport), parse.GetValue(_errorRecoveryLevel),
            parse.GetValue(_maxConnections), parse.GetValue(_completions), parse.GetValue(_tcpReceive), parse.GetValue(_iserQueues));
    }

    /// <summary>--log-level for client commands and the target alike.</summary>
    public static Option<string> LogLevelOption(string name, string description)
    {
        string[] levels = ["trace", "debug", "information", "warning", "error", "none"];
        var option = TypedOptions.Text(name, description, string.Join('|', levels));
        option.CompletionSources.Add(levels);
        return option;
    }

    /// <summary>--log CATEGORY=LEVEL,...: checked by <see cref="Logging.Create"/>, which says what is wrong in words.</summary>
    public static Option<string> LogCategoriesOption() => TypedOptions.Text("--log",
        "Levels per log category, e.g. Iser.Initiator.Pdu=trace,Iser.Initiator.Login=debug (a category covers those under it).",
        "CATEGORY=LEVEL,...");

    /// <summary>A CHAP algorithm list such as sha256,sha3-256,md5.</summary>
    public static Option<IReadOnlyList<ChapAlgorithm>> ChapAlgorithmsOption(string name, string description)
    {
        var option = new Option<IReadOnlyList<ChapAlgorithm>>(name) { Description = description, HelpName = "sha256,sha3-256,sha1,md5" };
        option.CustomParser = r =>
        {
            try
            {
                return ChapAlgorithms.Parse(r.Tokens.Count > 0 ? r.Tokens[^1].Value : "");
            }
            catch (FormatException e)
            {
                r.AddError($"{name}: {e.Message}");
                return null;
            }
        };
        return option;
    }

    private static ChapCredentials? Credentials(ParseResult parse, Option<string> userOption, Option<string> secretOption)
    {
        var user = parse.GetValue(userOption);
        var secret = parse.GetValue(secretOption);
        if (user is null && secret is null) return null;
        if (user is null) throw new UsageException($"{secretOption.Name} needs {userOption.Name}.");
        if (secret is null) throw new UsageException($"{userOption.Name} needs {secretOption.Name}.");
        return new ChapCredentials(user, secret);
    }

    /// <summary>"none", "crc32c" or a preference list such as "crc32c,none", as the key's value list.</summary>
    private static Option<string> DigestOption(string name)
    {
        var option = new Option<string>(name) { Description = "Offered digest: none, crc32c, or a preference list such as crc32c,none.", HelpName = "none|crc32c[,none]" };
        option.CustomParser = r =>
        {
            string value = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
            var words = new List<string>();
            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (part.Equals("none", StringComparison.OrdinalIgnoreCase)) words.Add("None");
                else if (part.Equals("crc32c", StringComparison.OrdinalIgnoreCase)) words.Add("CRC32C");
                else
                {
                    r.AddError($"{name} must be none, crc32c or a list such as crc32c,none, not '{value}'.");
                    return null;
                }
            }
            if (words.Count > 0) return string.Join(',', words);
            r.AddError($"{name} must be none, crc32c or a list such as crc32c,none.");
            return null;
        };
        option.CompletionSources.Add("none", "crc32c", "crc32c,none", "none,crc32c");
        return option;
    }
}
