namespace Iser.Tests.IserTransport;

/// <summary>Reading libiscsi's Debian version from dpkg's status file, which decides whether iscsi-test-cu can run over iSER.</summary>
public sealed class IserCapableLibiscsiTests
{
    private const string Status =
        "Package: libiscsi-bin\nStatus: install ok installed\nVersion: 1.19.0-3\n\n" +
        "Package: libiscsi7\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: 1.19.0-3\nDepends: libc6\n\n" +
        "Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\n";

    [Fact]
    public void FindsTheLibiscsi7VersionAmongOtherPackages() =>
        Assert.Equal(new Version(1, 19, 0), IserCapableLibiscsi.ParseLibiscsi7Version(Status));

    [Fact]
    public void DropsAnEpochAndTheDebianRevision() =>
        Assert.Equal(new Version(1, 20, 3), IserCapableLibiscsi.ParseLibiscsi7Version("Package: libiscsi7\nVersion: 2:1.20.3-1~bpo12+1\n"));

    [Fact]
    public void DoesNotTakeAnotherPackagesVersion() =>
        Assert.Null(IserCapableLibiscsi.ParseLibiscsi7Version("Package: libiscsi7\nStatus: deinstall ok config-files\n\nPackage: zlib1g\nVersion: 1.2.13\n"));
}
