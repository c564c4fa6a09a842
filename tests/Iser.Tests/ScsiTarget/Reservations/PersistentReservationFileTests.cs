using Iser.Core.Scsi.Target.Reservations;
using static Iser.Tests.ScsiTarget.Reservations.PrTestKit;

namespace Iser.Tests.ScsiTarget.Reservations;

/// <summary>APTPL: the state's image and the file that keeps it across power loss.</summary>
public sealed class PersistentReservationFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("iser-pr-").FullName;
    private string PrFile => Path.Combine(_directory, "lu0.pr");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>A through port 1 holding WE-RO, B through all ports, a device-wide registration of C.</summary>
    private static PersistentReservations Populated()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1, aptpl: true));
        AssertGood(s.Register(B, 0xB2, aptpl: true, allTargetPorts: true));
        var p = Keys(0, 0xC3, aptpl: true) with { SpecifyInitiatorPorts = true, TransportIds = [new IscsiTransportId(C.InitiatorName, null)] };
        AssertGood(s.Out(Nexus("iqn.1994-05.com.redhat:delta", 4), PrOutServiceAction.Register, PrType.None, p));
        AssertGood(s.Reserve(A, 0xA1, PrType.WriteExclusiveRegistrantsOnly));
        return s;
    }

    private static byte[] FullStatusBody(PersistentReservations s) => In(s, PrInServiceAction.ReadFullStatus)[4..]; // all but the generation

    [Fact]
    public void Restore_gives_back_registrations_reservation_and_aptpl_with_generation_zero()
    {
        var s = Populated();
        var restored = PersistentReservations.Restore(s.Serialize());
        Assert.Equal(FullStatusBody(s), FullStatusBody(restored));
        Assert.True(restored.PersistThroughPowerLoss);
        Assert.Equal(PrType.WriteExclusiveRegistrantsOnly, restored.ReservationType);
        Assert.Equal(0u, restored.Generation); // power on zeroes it (SPC-4 §6.15.2)
        // And it behaves: the holder still writes, an outsider still may not.
        Assert.Equal(PrAccess.Allowed, restored.CheckAccess(A, ScsiCommandClass.Write));
        Assert.Equal(PrAccess.Allowed, restored.CheckAccess(Nexus(C.InitiatorName, 0x55), ScsiCommandClass.Write));
        Assert.Equal(PrAccess.Conflict, restored.CheckAccess(Nexus("iqn.other", 1), ScsiCommandClass.Write));
    }

    [Fact]
    public void An_all_registrants_reservation_round_trips()
    {
        var s = new PersistentReservations();
        AssertGood(s.Register(A, 0xA1, aptpl: true));
        AssertGood(s.Register(B, 0xB2, aptpl: true));
        AssertGood(s.Reserve(B, 0xB2, PrType.ExclusiveAccessAllRegistrants));
        var restored = PersistentReservations.Restore(s.Serialize());
        Assert.Equal(FullStatusBody(s), FullStatusBody(restored));
    }

    [Fact]
    public void Save_then_load_through_the_file()
    {
        var s = Populated();
        PersistentReservationFile.Save(PrFile, s);
        var loaded = PersistentReservationFile.Load(PrFile);
        Assert.NotNull(loaded);
        Assert.Equal(FullStatusBody(s), FullStatusBody(loaded));
        Assert.False(File.Exists(PrFile + ".tmp"));
    }

    [Fact]
    public void No_file_means_no_saved_state()
    {
        Assert.Null(PersistentReservationFile.Load(PrFile));
    }

    [Fact]
    public void Saving_with_aptpl_off_deletes_the_file()
    {
        var s = Populated();
        PersistentReservationFile.Save(PrFile, s);
        var o = s.Out(A, PrOutServiceAction.Register, PrType.None, Keys(0xA1, 0xA1, aptpl: false)); // same key, APTPL now 0
        AssertGood(o);
        Assert.True(o.PersistentStateChanged);
        PersistentReservationFile.Save(PrFile, s);
        Assert.False(File.Exists(PrFile));
        Assert.Null(PersistentReservationFile.Load(PrFile));
    }

    [Fact]
    public void Saving_replaces_the_previous_state()
    {
        var s = Populated();
        PersistentReservationFile.Save(PrFile, s);
        AssertGood(s.Out(A, PrOutServiceAction.Clear, PrType.None, Keys(0xA1)));
        PersistentReservationFile.Save(PrFile, s);
        var loaded = PersistentReservationFile.Load(PrFile)!;
        Assert.Equal(0, loaded.RegistrationCount);
        Assert.Equal(PrType.None, loaded.ReservationType);
    }

    [Fact]
    public void A_stale_temporary_file_from_an_interrupted_save_does_not_get_in_the_way()
    {
        var s = Populated();
        File.WriteAllBytes(PrFile + ".tmp", [1, 2, 3]);
        PersistentReservationFile.Save(PrFile, s);
        Assert.Equal(FullStatusBody(s), FullStatusBody(PersistentReservationFile.Load(PrFile)!));
    }

    [Fact]
    public void A_damaged_file_is_refused_with_a_clear_error_and_left_as_it_is()
    {
        PersistentReservationFile.Save(PrFile, Populated());
        var bytes = File.ReadAllBytes(PrFile);
        bytes[30] ^= 0x40;
        File.WriteAllBytes(PrFile, bytes);
        var e = Assert.Throws<InvalidDataException>(() => PersistentReservationFile.Load(PrFile));
        Assert.Contains("checksum", e.Message);
        Assert.Contains(PrFile, e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(PrFile));
    }

    [Fact]
    public void A_truncated_file_is_refused_as_truncated_and_left_as_it_is()
    {
        PersistentReservationFile.Save(PrFile, Populated());
        var bytes = File.ReadAllBytes(PrFile)[..^7];
        File.WriteAllBytes(PrFile, bytes);
        var e = Assert.Throws<InvalidDataException>(() => PersistentReservationFile.Load(PrFile));
        Assert.Contains("truncated", e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(PrFile));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(23)]
    public void An_image_too_short_to_hold_a_header_is_truncated(int length)
    {
        var image = Populated().Serialize()[..length];
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => PersistentReservations.Restore(image)).Message);
    }

    [Fact]
    public void Another_format_or_version_is_refused_by_name()
    {
        var image = Populated().Serialize();
        var foreign = image.ToArray();
        foreign[0] = (byte)'X';
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => PersistentReservations.Restore(foreign)).Message);
        var future = image.ToArray();
        future[5] = 9;
        Assert.Contains("version 9", Assert.Throws<InvalidDataException>(() => PersistentReservations.Restore(future)).Message);
    }

    [Fact]
    public void Without_aptpl_nothing_asks_to_be_saved()
    {
        var s = new PersistentReservations();
        Assert.False(s.Register(A, 0xA1).PersistentStateChanged);
        Assert.False(s.Reserve(A, 0xA1, PrType.WriteExclusive).PersistentStateChanged);
        Assert.True(s.Register(B, 0xB2, aptpl: true).PersistentStateChanged);
        Assert.True(s.Release(A, 0xA1, PrType.WriteExclusive).PersistentStateChanged);
        Assert.False(s.Release(A, 0xA1, PrType.WriteExclusive).PersistentStateChanged); // nothing to release any more
    }
}
