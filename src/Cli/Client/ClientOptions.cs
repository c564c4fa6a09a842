using Iser.Transport.Iser.Fallback;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Client;

/// <summary>
/// The options every client command shares (initiator name, CHAP, digests, transport, logging), read once from the
/// command line and turned into <see cref="IscsiSessionOptions"/> and an <see cref="IInitiatorTransport"/>.
/// </summary>
internal sealed class ClientOptions : IDisposable
{
    /// <summary>The usage lines for these options, indented to sit under a command in `iser --help`.</summary>
    public const string Usage =
        "             --initiator-name IQN   --chap-user U --chap-secret S (or iscsi://U%S@host/...)\n" +
        "             --chap-algorithms sha256,md5 (offered, preferred first; default md5, as open-iscsi)\n" +
        "             --mutual-user U --mutual-secret S   --header-digest none|crc32c[,none]   --data-digest none|crc32c[,none]\n" +
        "             --error-recovery-level 0|1|2 (highest offered; the target's offer may lower it)\n" +
        "             --max-connections N (connections in the session, MC/S; the target's offer may lower it; default 1)\n" +
        "             --transport auto|tcp|iser   --log-level trace|debug|information|warning|error (default error)\n" +
        "             --log CATEGORY=LEVEL,... (per category, e.g. Iser.Initiator.Pdu=trace,Iser.Initiator.Login=debug)\n" +
        "             --completions threadpool|inline|poll|inline+poll (where completions run; poll keeps a core busy)\n" +
        "             --tcp-receive thread|pool (TCP: a receive thread per connection, the default on Linux, or the runtime's async sockets)";

    private string? _initiatorName;
    private ChapCredentials? _chap;
    private ChapCredentials? _mutual;
    private IReadOnlyList<ChapAlgorithm>? _chapAlgorithms;
    private string? _headerDigest;
    private string? _dataDigest;
    private TransportChoice? _transport;
    private int? _errorRecoveryLevel;
    private int? _maxConnections;
    private CompletionOptions _completions = new();
    private TcpInitiatorOptions _tcp = new();

    private ClientOptions(ILoggerFactory loggerFactory) => LoggerFactory = loggerFactory;

    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Reads the shared options; call before <see cref="ArgumentReader.Positionals"/>.</summary>
    public static ClientOptions Read(ArgumentReader args)
    {
        // Errors reach the user as the command's one sentence; the library's own warnings would say it twice.
        var options = new ClientOptions(Logging.Create(args.Value("--log-level") ?? "error", args.Value("--log")));
        options._initiatorName = args.Value("--initiator-name");
        options._chap = Credentials(args, "--chap-user", "--chap-secret");
        options._mutual = Credentials(args, "--mutual-user", "--mutual-secret");
        if (args.Value("--chap-algorithms") is { } algorithms)
            options._chapAlgorithms = Commands.TargetCommand.ParseChapAlgorithms(algorithms, "--chap-algorithms");
        options._headerDigest = Digest(args, "--header-digest");
        options._dataDigest = Digest(args, "--data-digest");
        options._errorRecoveryLevel = args.Int("--error-recovery-level");
        if (options._errorRecoveryLevel is < 0 or > IscsiSessionOptions.MaxSupportedErrorRecoveryLevel)
            throw new UsageException($"--error-recovery-level must be 0, 1 or 2, not {options._errorRecoveryLevel}.");
        options._maxConnections = args.Int("--max-connections");
        if (options._maxConnections is < 1 or > IscsiSessionOptions.MaxSupportedConnections)
            throw new UsageException($"--max-connections must be 1 to {IscsiSessionOptions.MaxSupportedConnections}, not {options._maxConnections}.");
        options._transport = args.Value("--transport")?.ToLowerInvariant() switch
        {
            null => null,
            "auto" => TransportChoice.Auto,
            "tcp" => TransportChoice.Tcp,
            "iser" => TransportChoice.Iser,
            var other => throw new UsageException($"--transport must be auto, tcp or iser, not '{other}'."),
        };
        options._completions = args.Value("--completions")?.ToLowerInvariant() switch
        {
            null or "threadpool" => new CompletionOptions(),
            "inline" => new CompletionOptions { Inline = true },
            "poll" => new CompletionOptions { BusyPoll = true },
            "inline+poll" or "poll+inline" => new CompletionOptions { Inline = true, BusyPoll = true },
            var other => throw new UsageException($"--completions must be threadpool, inline, poll or inline+poll, not '{other}'."),
        };
        options._tcp = args.Value("--tcp-receive")?.ToLowerInvariant() switch
        {
            null => new TcpInitiatorOptions(),
            "thread" => new TcpInitiatorOptions { ReceiveThread = true },
            "pool" => new TcpInitiatorOptions { ReceiveThread = false },
            var other => throw new UsageException($"--tcp-receive must be thread or pool, not '{other}'."),
        };
        return options;
    }

    /// <summary>Session options for <paramref name="url"/>: URL credentials first, flags override them.</summary>
    public IscsiSessionOptions SessionOptions(IscsiUrl url)
    {
        var options = IscsiSessionOptions.FromUrl(url);
        if (_initiatorName is not null) options.InitiatorName = _initiatorName;
        if (_chap is not null) options.Chap = _chap;
        if (_mutual is not null)
        {
            if (options.Chap is null) throw new UsageException("--mutual-user needs CHAP credentials too (--chap-user/--chap-secret or user%secret@ in the URL).");
            options.MutualChap = _mutual;
        }
        if (_chapAlgorithms is not null) options.ChapAlgorithms = _chapAlgorithms;
        options.HeaderDigest = _headerDigest;
        options.DataDigest = _dataDigest;
        if (_errorRecoveryLevel is int erl) options.ErrorRecoveryLevel = erl;
        if (_maxConnections is int connections) options.MaxConnections = connections;
        options.LoggerFactory = LoggerFactory;
        options.Completions = _completions;
        // One-shot commands should fail, not wait two minutes for a target that went away.
        options.Reconnect = new ReconnectOptions { Enabled = false };
        return options;
    }

    /// <summary>
    /// The transport: --transport if given, else the URL's scheme. "auto" falls back to TCP, and says on
    /// <paramref name="error"/> why iSER was not used; "iser" where it cannot run is an error.
    /// </summary>
    public IInitiatorTransport CreateTransport(IscsiUrl url, TextWriter error)
    {
        var choice = _transport ?? url.Transport switch
        {
            IscsiTransportKind.Iser => TransportChoice.Iser,
            IscsiTransportKind.Auto => TransportChoice.Auto,
            _ => TransportChoice.Tcp,
        };
        return Create(choice, error, LoggerFactory, _tcp);
    }

    public static IInitiatorTransport Create(TransportChoice choice, TextWriter error, ILoggerFactory loggerFactory, TcpInitiatorOptions? tcp = null)
    {
        if (choice == TransportChoice.Tcp) return new TcpInitiatorTransport(loggerFactory.CreateLogger("Iser.Transport.Tcp"), tcp);
        string? reason = IserAvailability.NotAvailableReason();
        // With an RDMA device, "auto" still falls back to TCP (with the reason logged) when the portal has no route or
        // refuses iSER; "iser" does not.
        if (reason is null)
            return InitiatorTransports.Create(choice == TransportChoice.Iser ? TransportKind.Iser : TransportKind.Auto, loggerFactory);
        if (choice == TransportChoice.Iser) throw new InvalidOperationException($"iSER is not available: {reason}.");
        error.WriteLine($"iSER not available: {reason}; using TCP.");
        return new TcpInitiatorTransport(loggerFactory.CreateLogger("Iser.Transport.Tcp"), tcp);
    }

    private static ChapCredentials? Credentials(ArgumentReader args, string userFlag, string secretFlag)
    {
        var user = args.Value(userFlag);
        var secret = args.Value(secretFlag);
        if (user is null && secret is null) return null;
        if (user is null) throw new UsageException($"{secretFlag} needs {userFlag}.");
        if (secret is null) throw new UsageException($"{userFlag} needs {secretFlag}.");
        return new ChapCredentials(user, secret);
    }

    /// <summary>"none", "crc32c" or a preference list such as "crc32c,none", as the key's value list.</summary>
    private static string? Digest(ArgumentReader args, string flag)
    {
        var value = args.Value(flag);
        if (value is null) return null;
        var parts = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new UsageException($"{flag} must be none, crc32c or a list such as crc32c,none.");
        return string.Join(',', parts.Select(p => p.ToLowerInvariant() switch
        {
            "none" => "None",
            "crc32c" => "CRC32C",
            _ => throw new UsageException($"{flag} must be none, crc32c or a list such as crc32c,none, not '{value}'."),
        }));
    }

    public void Dispose() => LoggerFactory.Dispose();
}
