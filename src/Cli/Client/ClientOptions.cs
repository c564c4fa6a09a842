using Iser.Transport.Iser.Datamover;
using Iser.Transport.Iser.Fallback;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Initiator;
using Iser.Core.Iscsi.Login;
using Iser.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace Iser.Cli.Client;

/// <summary>
/// The options every client command shares (initiator name, CHAP, digests, transport, logging), as parsed from the
/// command line, turned into <see cref="IscsiSessionOptions"/> and an <see cref="IInitiatorTransport"/>.
/// </summary>
internal sealed class ClientOptions : IDisposable
{
    private readonly string? _initiatorName;
    private readonly ChapCredentials? _chap;
    private readonly ChapCredentials? _mutual;
    private readonly IReadOnlyList<ChapAlgorithm>? _chapAlgorithms;
    private readonly string? _headerDigest;
    private readonly string? _dataDigest;
    private readonly TransportChoice? _transport;
    private readonly int? _errorRecoveryLevel;
    private readonly int? _maxConnections;
    private readonly CompletionOptions _completions;
    private readonly TcpInitiatorOptions _tcp;
    private readonly IserOptions? _iser;

    /// <summary>The values as parsed (see <see cref="CommandLine.ClientCommandLine"/>); null where not given.</summary>
    internal ClientOptions(ILoggerFactory loggerFactory, string? initiatorName, ChapCredentials? chap, ChapCredentials? mutual,
        IReadOnlyList<ChapAlgorithm>? chapAlgorithms, string? headerDigest, string? dataDigest, TransportChoice? transport,
        int? errorRecoveryLevel, int? maxConnections, CompletionOptions? completions, TcpInitiatorOptions? tcp, IserOptions? iser = null)
    {
        LoggerFactory = loggerFactory;
        _initiatorName = initiatorName;
        _chap = chap;
        _mutual = mutual;
        _chapAlgorithms = chapAlgorithms;
        _headerDigest = headerDigest;
        _dataDigest = dataDigest;
        _transport = transport;
        _errorRecoveryLevel = errorRecoveryLevel;
        _maxConnections = maxConnections;
        _completions = completions ?? new CompletionOptions();
        _tcp = tcp ?? new TcpInitiatorOptions();
        _iser = iser;
    }

    public ILoggerFactory LoggerFactory { get; }

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
    public IInitiatorTransport CreateTransport(IscsiUrl url, TextWriter error) => CreateTransport(Choice(url), error);

    /// <summary>The transport <paramref name="choice"/> names, with this command's TCP and iSER settings.</summary>
    public IInitiatorTransport CreateTransport(TransportChoice choice, TextWriter error) => Create(choice, error, LoggerFactory, _tcp, _iser);

    /// <summary>"tcp", "iser" or "auto": what <see cref="CreateTransport"/> was asked for, to label figures with.</summary>
    public string TransportName(IscsiUrl url) => Choice(url) switch
    {
        TransportChoice.Tcp => "tcp",
        TransportChoice.Iser => "iser",
        _ => "auto",
    };

    private TransportChoice Choice(IscsiUrl url) => _transport ?? url.Transport switch
    {
        IscsiTransportKind.Iser => TransportChoice.Iser,
        IscsiTransportKind.Auto => TransportChoice.Auto,
        _ => TransportChoice.Tcp,
    };

    public static IInitiatorTransport Create(TransportChoice choice, TextWriter error, ILoggerFactory loggerFactory, TcpInitiatorOptions? tcp = null,
        IserOptions? iser = null)
    {
        if (choice == TransportChoice.Tcp) return new TcpInitiatorTransport(loggerFactory.CreateLogger("Iser.Transport.Tcp"), tcp);
        string? reason = IserAvailability.NotAvailableReason();
        // With an RDMA device, "auto" still falls back to TCP (with the reason logged) when the portal has no route or
        // refuses iSER; "iser" does not.
        if (reason is null)
            return InitiatorTransports.Create(choice == TransportChoice.Iser ? TransportKind.Iser : TransportKind.Auto, loggerFactory, iser);
        if (choice == TransportChoice.Iser) throw new InvalidOperationException($"iSER is not available: {reason}.");
        error.WriteLine($"iSER not available: {reason}; using TCP.");
        return new TcpInitiatorTransport(loggerFactory.CreateLogger("Iser.Transport.Tcp"), tcp);
    }

    public void Dispose() => LoggerFactory.Dispose();
}
