using Iser.Cli;
using Microsoft.Extensions.Logging;

namespace Iser.Tests.Cli;

/// <summary>`--log CATEGORY=LEVEL,...`: per-category levels beside `--log-level`, and bad input refused in words.</summary>
public class LoggingOptionTests
{
    [Fact]
    public void Categories_get_their_own_levels_and_the_rest_keep_the_minimum()
    {
        using var factory = Logging.Create("warning", "Iser.Initiator.Pdu=trace, Iser.Target.Login=debug");
        Assert.True(factory.CreateLogger("Iser.Initiator.Pdu").IsEnabled(LogLevel.Trace));
        Assert.True(factory.CreateLogger("Iser.Target.Login").IsEnabled(LogLevel.Debug));
        Assert.False(factory.CreateLogger("Iser.Target.Login").IsEnabled(LogLevel.Trace));
        Assert.False(factory.CreateLogger("Iser.Target").IsEnabled(LogLevel.Information));
        Assert.True(factory.CreateLogger("Iser.Target").IsEnabled(LogLevel.Warning));
    }

    [Fact]
    public void A_bare_level_in_the_list_sets_the_minimum_and_a_category_covers_those_under_it()
    {
        using var factory = Logging.Create(null, "error,Iser.Target=information");
        Assert.False(factory.CreateLogger("Iser.Initiator").IsEnabled(LogLevel.Warning));
        Assert.True(factory.CreateLogger("Iser.Target.Lun").IsEnabled(LogLevel.Information));
    }

    [Theory]
    [InlineData("Iser.Target=loud", "--log Iser.Target must be trace, debug")]
    [InlineData("=debug", "names no category")]
    [InlineData("verbose", "--log must be trace")]
    public void Bad_entries_are_refused_in_words(string spec, string words) =>
        Assert.Contains(words, Assert.Throws<UsageException>(() => Logging.Create(null, spec)).Message);
}
