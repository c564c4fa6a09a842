namespace Iser.Tests.Peers;

/// <summary>iscsi-inq's "Name:value" lines (standard INQUIRY), keeping values untrimmed as the target sent them.</summary>
public sealed record InquiryReport(ProcessResult Process, IReadOnlyDictionary<string, string> Fields, IReadOnlyList<string> VersionDescriptors)
{
    public bool Succeeded => Process.ExitCode == 0 && Fields.Count > 0;

    public string? Field(string name) => Fields.TryGetValue(name, out string? value) ? value : null;

    public string? Vendor => Field("Vendor");
    public string? Product => Field("Product");
    public string? Revision => Field("Revision");
    public string? PeripheralDeviceType => Field("Peripheral Device Type");

    public static InquiryReport Parse(ProcessResult process)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var descriptors = new List<string>();
        foreach (string line in process.Stdout.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0)
                continue;
            string name = line[..colon];
            string value = line[(colon + 1)..];
            if (name == "Version Descriptor")
                descriptors.Add(value.Trim());
            else
                fields.TryAdd(name, value);
        }
        return new InquiryReport(process, fields, descriptors);
    }
}
