namespace Iser.Tests.Peers;

/// <summary>Data written to OUR target by one independent initiator (libiscsi) comes back intact, and lands in the backing file.</summary>
[Trait("Category", "Peers")]
public sealed class DataIntegrityTests
{
    [PeerFact(Peer.LibiscsiTools | Peer.LibiscsiLibrary)]
    public async Task Ram_lun_returns_to_a_second_session_what_the_first_wrote()
    {
        await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions { Luns = new[] { "ram:64M" } });
        var capacity = await new LibiscsiTools().ReadCapacity16Async(target.LunUrl());
        Assert.True(capacity.Succeeded, $"iscsi-readcapacity16 failed: {capacity.Process}");

        await Task.Run(() => DataIntegrityChecks.WriteThenReadBackFromAnotherSession(
            target.Portal, target.TargetIqn, OurTargetProcess.FirstLun, capacity.CapacityInBytes!.Value, capacity.BlockLength!.Value));
        await target.StopAndAssertCleanExitAsync();
    }

    [PeerFact(Peer.LibiscsiTools | Peer.LibiscsiLibrary)]
    public async Task File_lun_serves_the_file_bytes_and_persists_writes_to_the_file()
    {
        const int size = 8 << 20;
        byte[] original = BlockPattern.Random(size, seed: 7);
        string file = Path.Combine(LoopbackStorage.Directory, $"ours-lun-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        await File.WriteAllBytesAsync(file, original);
        try
        {
            await using var target = await OurTargetProcess.StartAsync(new OurTargetOptions { Luns = new[] { $"file:{file}" } });
            var capacity = await new LibiscsiTools().ReadCapacity16Async(target.LunUrl());
            Assert.True(capacity.Succeeded, $"iscsi-readcapacity16 failed: {capacity.Process}");
            Assert.Equal(size, capacity.CapacityInBytes);
            int blockSize = capacity.BlockLength!.Value;

            byte[] written = BlockPattern.Random(256 * 1024, seed: 8);
            long writtenLba = 1000 * 512 / blockSize;
            await Task.Run(() =>
            {
                using var session = LibiscsiSession.Connect(target.Portal, target.TargetIqn, OurTargetProcess.FirstLun, blockSize);
                var whole = new byte[size];
                session.Read(0, whole);
                BlockPattern.AssertEqual(original, whole, "The LUN read through libiscsi against the file's bytes");
                session.Write(writtenLba, written);
            });
            await target.StopAndAssertCleanExitAsync();

            byte[] after = await File.ReadAllBytesAsync(file);
            written.CopyTo(original, writtenLba * blockSize);
            BlockPattern.AssertEqual(original, after, "The backing file after a libiscsi WRITE and a clean stop");
        }
        finally
        {
            LoopbackStorage.DeleteQuietly(file);
        }
    }
}
