namespace Iser.Tests.Peers;

/// <summary>Reproducible random data for integrity checks, and a comparison that names the first differing byte.</summary>
public static class BlockPattern
{
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static void AssertEqual(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int mismatch = expected.CommonPrefixLength(actual);
        Assert.True(mismatch == expected.Length,
            $"{what}: byte {mismatch} differs (expected 0x{(mismatch < expected.Length ? expected[mismatch] : 0):x2}, " +
            $"got 0x{(mismatch < actual.Length ? actual[mismatch] : 0):x2}).");
    }
}
