using Iser.Core.Iscsi.Text;

namespace Iser.Tests.Text;

public class KeyNegotiationTests
{
    private static KeyAnswer Respond(string key, string offered, string local) => KeyNegotiation.Respond(KeyTable.Get(key), offered, local);

    [Theory]
    [InlineData("262144", "65536", "65536")]
    [InlineData("16384", "65536", "16384")]
    [InlineData("0x10000", "262144", "65536")] // numerical values may be hex constants
    public void MaxBurstLength_takes_the_minimum(string offered, string local, string expected)
    {
        var answer = Respond(KeyNames.MaxBurstLength, offered, local);
        Assert.Equal(expected, answer.Answer);
        Assert.Equal(expected, answer.Result);
    }

    [Fact]
    public void ErrorRecoveryLevel_takes_the_minimum()
    {
        Assert.Equal("0", Respond(KeyNames.ErrorRecoveryLevel, "2", "0").Answer);
        Assert.Equal("1", Respond(KeyNames.ErrorRecoveryLevel, "1", "2").Answer);
    }

    [Fact]
    public void DefaultTime2Wait_takes_the_maximum()
    {
        Assert.Equal("5", Respond(KeyNames.DefaultTime2Wait, "2", "5").Answer);
        Assert.Equal("9", Respond(KeyNames.DefaultTime2Wait, "9", "5").Answer);
    }

    [Theory]
    [InlineData("No", "No", "No")]
    [InlineData("No", "Yes", "Yes")]
    [InlineData("Yes", "No", "Yes")]
    [InlineData("Yes", "Yes", "Yes")]
    public void InitialR2T_is_boolean_OR(string offered, string local, string expected) =>
        Assert.Equal(expected, Respond(KeyNames.InitialR2T, offered, local).Answer);

    [Theory]
    [InlineData("Yes", "Yes", "Yes")]
    [InlineData("Yes", "No", "No")]
    [InlineData("No", "Yes", "No")]
    [InlineData("No", "No", "No")]
    public void ImmediateData_is_boolean_AND(string offered, string local, string expected) =>
        Assert.Equal(expected, Respond(KeyNames.ImmediateData, offered, local).Answer);

    [Theory]
    [InlineData("CRC32C,None", "None,CRC32C", "CRC32C")] // the offerer's order wins
    [InlineData("None,CRC32C", "CRC32C,None", "None")]
    [InlineData("CRC32C,None", "None", "None")]
    [InlineData("X-vendor-digest,CRC32C", "CRC32C,None", "CRC32C")]
    public void Digest_list_selects_the_first_offered_value_the_responder_supports(string offered, string local, string expected) =>
        Assert.Equal(expected, Respond(KeyNames.HeaderDigest, offered, local).Answer);

    [Fact]
    public void Digest_list_without_common_value_is_rejected_and_stays_default()
    {
        var answer = Respond(KeyNames.DataDigest, "CRC32C", "None");
        Assert.Equal("Reject", answer.Answer);
        Assert.Equal("None", answer.Result);
        Assert.Contains("None of the offered DataDigest values", answer.Reason);
    }

    [Theory]
    [InlineData(KeyNames.MaxBurstLength, "511")]
    [InlineData(KeyNames.MaxBurstLength, "16777216")]
    [InlineData(KeyNames.ErrorRecoveryLevel, "3")]
    [InlineData(KeyNames.DefaultTime2Wait, "3601")]
    [InlineData(KeyNames.MaxConnections, "0")]
    [InlineData(KeyNames.InitialR2T, "yes")]
    [InlineData(KeyNames.MaxBurstLength, "12ab")]
    public void Invalid_or_out_of_range_values_are_rejected(string key, string value)
    {
        var answer = Respond(key, value, KeyTable.Get(key).Default!);
        Assert.Equal("Reject", answer.Answer);
        Assert.Equal(KeyTable.Get(key).Default, answer.Result);
        Assert.NotNull(answer.Reason);
    }

    [Fact]
    public void Obsolete_marker_keys_are_rejected_never_not_understood()
    {
        Assert.Equal("Reject", Respond(KeyNames.OFMarker, "No", "No").Answer);
        Assert.Equal("Reject", Respond(KeyNames.IFMarkInt, "2048~8192", "x").Answer);
    }

    [Fact]
    public void Declarative_keys_are_not_answered()
    {
        var answer = Respond(KeyNames.MaxRecvDataSegmentLength, "65536", "8192");
        Assert.Null(answer.Answer);
        Assert.Equal("65536", answer.Result);
    }

    [Fact]
    public void MaxOutstandingUnexpectedPdus_treats_zero_as_unlimited()
    {
        Assert.Equal("16", Respond(KeyNames.MaxOutstandingUnexpectedPdus, "0", "16").Answer);
        Assert.Equal("8", Respond(KeyNames.MaxOutstandingUnexpectedPdus, "8", "0").Answer);
        Assert.Equal("Reject", Respond(KeyNames.MaxOutstandingUnexpectedPdus, "1", "0").Answer); // 1 is below the range 2..2^32-1
    }

    [Theory]
    [InlineData(KeyNames.MaxBurstLength, "65536", "131072", "larger than the offered")]
    [InlineData(KeyNames.DefaultTime2Wait, "5", "2", "smaller than the offered")]
    [InlineData(KeyNames.ImmediateData, "No", "Yes", "AND rule")]
    [InlineData(KeyNames.InitialR2T, "Yes", "No", "OR rule")]
    [InlineData(KeyNames.HeaderDigest, "None", "CRC32C", "not one of the offered")]
    [InlineData(KeyNames.HeaderDigest, "CRC32C,None", "CRC32C,None", "not one of the offered")]
    public void Answers_that_break_the_rule_are_protocol_errors(string key, string offered, string answer, string expected)
    {
        Assert.False(KeyNegotiation.TryAcceptAnswer(KeyTable.Get(key), offered, answer, out _, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Refusal_answers_leave_the_default()
    {
        foreach (var refusal in new[] { "Reject", "Irrelevant", "NotUnderstood" })
        {
            Assert.True(KeyNegotiation.TryAcceptAnswer(KeyTable.Get(KeyNames.FirstBurstLength), "4096", refusal, out var result, out _));
            Assert.Equal("65536", result);
        }
    }

    [Fact]
    public void Consistent_answers_give_the_answer_as_result()
    {
        Assert.True(KeyNegotiation.TryAcceptAnswer(KeyTable.Get(KeyNames.MaxBurstLength), "262144", "65536", out var result, out _));
        Assert.Equal("65536", result);
    }

    [Fact]
    public void Silence_is_only_meaningful_for_AND_No_and_OR_Yes()
    {
        Assert.Equal("No", KeyNegotiation.ImpliedResult(KeyTable.Get(KeyNames.ImmediateData), "No"));
        Assert.Equal("Yes", KeyNegotiation.ImpliedResult(KeyTable.Get(KeyNames.InitialR2T), "Yes"));
        Assert.Null(KeyNegotiation.ImpliedResult(KeyTable.Get(KeyNames.ImmediateData), "Yes"));
        Assert.Null(KeyNegotiation.ImpliedResult(KeyTable.Get(KeyNames.MaxBurstLength), "512"));
    }

    [Fact]
    public void Key_table_has_every_RFC_7143_and_7145_key_with_its_rule()
    {
        var expected = new Dictionary<string, NegotiationRule>
        {
            ["HeaderDigest"] = NegotiationRule.ListSelection, ["DataDigest"] = NegotiationRule.ListSelection,
            ["MaxConnections"] = NegotiationRule.NumericalMinimum, ["SendTargets"] = NegotiationRule.Declarative,
            ["TargetName"] = NegotiationRule.Declarative, ["InitiatorName"] = NegotiationRule.Declarative,
            ["TargetAlias"] = NegotiationRule.Declarative, ["InitiatorAlias"] = NegotiationRule.Declarative,
            ["TargetAddress"] = NegotiationRule.Declarative, ["TargetPortalGroupTag"] = NegotiationRule.Declarative,
            ["InitialR2T"] = NegotiationRule.BooleanOr, ["ImmediateData"] = NegotiationRule.BooleanAnd,
            ["MaxRecvDataSegmentLength"] = NegotiationRule.Declarative, ["MaxBurstLength"] = NegotiationRule.NumericalMinimum,
            ["FirstBurstLength"] = NegotiationRule.NumericalMinimum, ["DefaultTime2Wait"] = NegotiationRule.NumericalMaximum,
            ["DefaultTime2Retain"] = NegotiationRule.NumericalMinimum, ["MaxOutstandingR2T"] = NegotiationRule.NumericalMinimum,
            ["DataPDUInOrder"] = NegotiationRule.BooleanOr, ["DataSequenceInOrder"] = NegotiationRule.BooleanOr,
            ["ErrorRecoveryLevel"] = NegotiationRule.NumericalMinimum, ["SessionType"] = NegotiationRule.Declarative,
            ["AuthMethod"] = NegotiationRule.ListSelection, ["CHAP_A"] = NegotiationRule.ListSelection,
            ["CHAP_I"] = NegotiationRule.Declarative, ["CHAP_C"] = NegotiationRule.Declarative, ["CHAP_N"] = NegotiationRule.Declarative,
            ["CHAP_R"] = NegotiationRule.Declarative, ["TaskReporting"] = NegotiationRule.ListSelection,
            ["iSCSIProtocolLevel"] = NegotiationRule.NumericalMinimum, ["RDMAExtensions"] = NegotiationRule.BooleanAnd,
            ["TargetRecvDataSegmentLength"] = NegotiationRule.NumericalMinimum, ["InitiatorRecvDataSegmentLength"] = NegotiationRule.NumericalMinimum,
            ["MaxOutstandingUnexpectedPDUs"] = NegotiationRule.NumericalMinimum,
        };
        foreach (var (name, rule) in expected)
        {
            Assert.True(KeyTable.TryGet(name, out var definition), name);
            Assert.Equal(rule, definition.Rule);
        }
        Assert.Equal("262144", KeyTable.Get("MaxBurstLength").Default);
        Assert.Equal("65536", KeyTable.Get("FirstBurstLength").Default);
        Assert.Equal("8192", KeyTable.Get("MaxRecvDataSegmentLength").Default);
        Assert.Equal("20", KeyTable.Get("DefaultTime2Retain").Default);
        Assert.True(KeyTable.Get("MaxBurstLength").IrrelevantInDiscovery);
        Assert.False(KeyTable.Get("HeaderDigest").IrrelevantInDiscovery);
        Assert.False(KeyTable.TryGet("maxburstlength", out _)); // keys are case-sensitive
    }
}
