using System.Reflection;
using System.Text.RegularExpressions;
using Iser.Transport.Iser.Verbs;

namespace Iser.Tests.Verbs;

/// <summary>
/// Builds native/probe/verbs_probe.c against this machine's rdma-core headers and compares every
/// size, offset and enum value it prints with the constants in NativeLayout: any difference, and
/// any constant the probe does not check (or probe value without a constant), fails.
/// </summary>
public sealed class NativeLayoutProbeTests
{
    [ProbeFact]
    public void EveryNativeLayoutConstantMatchesTheHeaders()
    {
        Dictionary<string, long> probed = RunProbe();
        List<string> problems = Differences(probed, DeclaredConstants());
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
        Assert.True(probed.Count > 100, $"the probe printed only {probed.Count} values");
    }

    [Fact]
    public void TheComparisonCatchesAChangedMissingOrExtraValue()
    {
        Dictionary<string, long> declared = DeclaredConstants();
        Dictionary<string, long> probed = new(declared) { ["IbvWc.Status"] = 12, ["IbvWc.NewField"] = 48 };
        probed.Remove("IbvMr.Rkey");

        List<string> problems = Differences(probed, declared);

        Assert.Equal(
            [
                "IbvWc.Status: NativeLayout says 8, the headers say 12",
                "IbvWc.NewField: the probe measured 48 but NativeLayout has no such constant",
                "IbvMr.Rkey: declared in NativeLayout but not measured by the probe",
            ],
            problems);
        Assert.Empty(Differences(declared, declared));
    }

    private static List<string> Differences(Dictionary<string, long> probed, Dictionary<string, long> declared)
    {
        List<string> problems = [];
        foreach ((string key, long value) in probed)
        {
            if (!declared.TryGetValue(key, out long constant))
            {
                problems.Add($"{key}: the probe measured {value} but NativeLayout has no such constant");
            }
            else if (constant != value)
            {
                problems.Add($"{key}: NativeLayout says {constant}, the headers say {value}");
            }
        }

        problems.AddRange(declared.Keys.Except(probed.Keys).Select(key => $"{key}: declared in NativeLayout but not measured by the probe"));
        return problems;
    }

    [ProbeFact]
    public void WorkCompletionStatusNamesFollowTheHeaderEnum()
    {
        string header = File.ReadAllText(NativeToolchain.VerbsHeader);
        Match block = Regex.Match(header, @"enum ibv_wc_status\s*\{(?<body>[^}]*)\}");
        Assert.True(block.Success, "enum ibv_wc_status not found in verbs.h");
        string[] names = Regex.Matches(block.Groups["body"].Value, @"IBV_WC_[A-Z0-9_]+").Select(m => m.Value).ToArray();

        Assert.Equal(names.Length, Enum.GetValues<WorkCompletionStatus>().Length);
        for (int value = 0; value < names.Length; value++)
        {
            Assert.Equal(names[value], WorkCompletionStatusText.Name((WorkCompletionStatus)value));
        }
    }

    [ProbeFact]
    public void RdmaCmEventTypesFollowTheHeaderEnum()
    {
        string header = File.ReadAllText(NativeToolchain.RdmaCmHeader);
        Match block = Regex.Match(header, @"enum rdma_cm_event_type\s*\{(?<body>[^}]*)\}");
        Assert.True(block.Success, "enum rdma_cm_event_type not found in rdma_cma.h");
        string[] names = Regex.Matches(block.Groups["body"].Value, @"RDMA_CM_EVENT_([A-Z_]+)").Select(m => m.Groups[1].Value.Replace("_", "")).ToArray();

        RdmaCmEventType[] values = Enum.GetValues<RdmaCmEventType>();
        Assert.Equal(names.Length, values.Length);
        for (int value = 0; value < names.Length; value++)
        {
            Assert.Equal(names[value], ((RdmaCmEventType)value).ToString().ToUpperInvariant());
        }
    }

    private static Dictionary<string, long> RunProbe()
    {
        string probeDir = NativeToolchain.ProbeDirectory()!;
        string output = Path.Combine(Path.GetTempPath(), $"verbs_probe_{Environment.ProcessId}");
        try
        {
            NativeToolchain.Run("/bin/sh", Path.Combine(probeDir, "build.sh"), output);
            string text = NativeToolchain.Run(output);
            Dictionary<string, long> values = [];
            foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string[] parts = line.Split('=');
                Assert.True(parts.Length == 2, $"unexpected probe line '{line}'");
                Assert.True(values.TryAdd(parts[0], long.Parse(parts[1])), $"the probe printed {parts[0]} twice");
            }

            return values;
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>Every const in NativeLayout's nested classes, keyed "Class.Constant" like the probe's output.</summary>
    internal static Dictionary<string, long> DeclaredConstants()
    {
        Type layout = typeof(RdmaRuntime).Assembly.GetType("Iser.Transport.Iser.Verbs.NativeLayout", throwOnError: true)!;
        Dictionary<string, long> constants = [];
        foreach (Type nested in layout.GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public))
        {
            foreach (FieldInfo field in nested.GetFields(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public).Where(f => f.IsLiteral))
            {
                constants.Add($"{nested.Name}.{field.Name}", Convert.ToInt64(field.GetRawConstantValue()));
            }
        }

        return constants;
    }
}
