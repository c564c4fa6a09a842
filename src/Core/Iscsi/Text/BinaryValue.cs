namespace Iser.Core.Iscsi.Text;

/// <summary>binary-value of RFC 7143 §6.1: hex-constant <c>0x...</c> or base64-constant <c>0b...</c>.</summary>
public static class BinaryValue
{
    public static string EncodeHex(ReadOnlySpan<byte> bytes) => "0x" + Convert.ToHexStringLower(bytes);

    public static string EncodeBase64(ReadOnlySpan<byte> bytes) => "0b" + Convert.ToBase64String(bytes);

    public static bool TryDecode(string value, out byte[] bytes)
    {
        bytes = Array.Empty<byte>();
        if (value.Length < 3 || value[0] != '0')
            return false;
        var body = value.AsSpan(2);
        if (value[1] is 'x' or 'X')
        {
            // An odd number of digits means an implied leading zero nibble.
            string digits = body.Length % 2 == 1 ? "0" + body.ToString() : body.ToString();
            try { bytes = Convert.FromHexString(digits); return true; }
            catch (FormatException) { return false; }
        }
        if (value[1] is 'b' or 'B')
        {
            var buffer = new byte[body.Length * 3 / 4 + 3];
            if (!Convert.TryFromBase64Chars(body, buffer, out int written))
                return false;
            bytes = buffer.AsSpan(0, written).ToArray();
            return true;
        }
        return false;
    }
}
