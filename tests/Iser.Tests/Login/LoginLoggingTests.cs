using Iser.Core.Iscsi.Login;
using Microsoft.Extensions.Logging;
using static Iser.Tests.Login.LoginHarness;

namespace Iser.Tests.Login;

public class LoginLoggingTests
{
    private sealed class ListLogger : ILogger
    {
        public readonly List<(LogLevel Level, string Message)> Entries = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }

    [Fact]
    public void Short_chap_secrets_are_warned_about_on_both_sides()
    {
        var targetLog = new ListLogger();
        var initiatorLog = new ListLogger();
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "short")), targetLog);
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "short")), initiatorLog);
        Run(initiator, target);

        Assert.True(initiator.IsComplete, initiator.FailureReason); // weak is warned, not refused
        Assert.Contains(targetLog.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("shorter than the 12 bytes"));
        Assert.Contains(initiatorLog.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("shorter than the 12 bytes"));
    }

    [Fact]
    public void Strong_secrets_give_no_warning_and_a_refused_login_is_logged_with_its_status()
    {
        var targetLog = new ListLogger();
        var target = new TargetLoginNegotiator(Policy(initiatorChap: new ChapCredentials("alice", "alice-secret-123")), targetLog);
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "alice-secret-124")));
        Run(initiator, target);

        Assert.DoesNotContain(targetLog.Entries, e => e.Message.Contains("shorter than"));
        Assert.Contains(targetLog.Entries, e => e.Level == LogLevel.Warning
            && e.Message.Contains("Initiator error: authentication failed (0x0201)") && e.Message.Contains(InitiatorIqn));
    }

    [Fact]
    public void Initiator_offering_chap_to_a_target_without_auth_settles_on_None()
    {
        var target = new TargetLoginNegotiator(Policy());
        var initiator = new InitiatorLoginNegotiator(Options(chap: new ChapCredentials("alice", "alice-secret-123")));
        var exchanges = Run(initiator, target);
        Assert.True(initiator.IsComplete, initiator.FailureReason);
        Assert.Equal("None", Keys(exchanges[0].Response.TextData)["AuthMethod"]);
        Assert.Equal("None", initiator.Result.AuthMethod);
    }
}
