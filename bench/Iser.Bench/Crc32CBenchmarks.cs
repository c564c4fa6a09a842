using BenchmarkDotNet.Attributes;
using Iser.Core.Iscsi.Pdus;

namespace Iser.Bench;

/// <summary>
/// CRC32C (Crc32C.Compute: BitOperations.Crc32C eight bytes at a time) over a BHS (48 B, a header digest) and over an
/// 8 KiB data segment (a data digest at the default MaxRecvDataSegmentLength).
/// </summary>
[MemoryDiagnoser]
public class Crc32CBenchmarks
{
    [Params(48, 8192)]
    public int Length { get; set; }

    private byte[] _data = [];

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Length];
        new Random(42).NextBytes(_data);
    }

    [Benchmark]
    public uint Compute() => Crc32C.Compute(_data);
}
