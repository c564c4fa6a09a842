namespace Iser.Tests.Peers;

/// <summary>
/// Data-integrity scenarios run through two independent libiscsi sessions (different initiator names), so the
/// bytes one initiator wrote must come back to another: shared by the tests against our target and against tgtd.
/// </summary>
internal static class DataIntegrityChecks
{
    public const string WriterIqn = "iqn.2026-11.org.example:iser-tests-writer";
    public const string ReaderIqn = "iqn.2026-11.org.example:iser-tests-reader";

    /// <summary>
    /// Writes random patterns at the first LBA, in the middle, across a 1 MiB-unaligned span and at the very last
    /// blocks with one session, then reads each back with a second session.
    /// </summary>
    public static void WriteThenReadBackFromAnotherSession(string portal, string targetIqn, int lun, long capacityBytes, int blockSize)
    {
        long blocks = capacityBytes / blockSize;
        var extents = new (long Lba, int Bytes)[]
        {
            (0, 64 * 1024),
            (blocks / 2 + 3, 1024 * 1024 + blockSize),   // odd start, larger than one typical burst
            (blocks - 8, 8 * blockSize),                 // ends on the last block
        };

        using (var writer = LibiscsiSession.Connect(portal, targetIqn, lun, blockSize, WriterIqn))
            for (int i = 0; i < extents.Length; i++)
                writer.Write(extents[i].Lba, BlockPattern.Random(extents[i].Bytes, seed: 100 + i));

        using var reader = LibiscsiSession.Connect(portal, targetIqn, lun, blockSize, ReaderIqn);
        for (int i = 0; i < extents.Length; i++)
        {
            var back = new byte[extents[i].Bytes];
            reader.Read(extents[i].Lba, back);
            BlockPattern.AssertEqual(BlockPattern.Random(extents[i].Bytes, seed: 100 + i), back,
                $"{extents[i].Bytes} bytes at LBA {extents[i].Lba} read back through a second session");
        }
    }
}
