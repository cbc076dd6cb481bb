using Hfdl.Core.Integrity;

namespace Hfdl.Core.Tests.Integrity;

/// <summary>A verdict of --verify is trusted by the repair that follows only while the file is the one that was hashed.</summary>
public sealed class HashedFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_verdict_describes_the_file_while_it_is_unchanged_and_for_the_hash_it_was_given_against()
    {
        var path = _temp.Write("a.bin", "content");
        var stamp = HashedFile.Of(new FileInfo(path), ok: true, "abc");

        Assert.True(stamp.StillDescribes(new FileInfo(path), "abc"));
        // The revision moved between the verification and the repair: another hash is expected now.
        Assert.False(stamp.StillDescribes(new FileInfo(path), "def"));
    }

    [Fact]
    public void A_file_rewritten_or_replaced_after_it_was_hashed_is_not_described_by_its_verdict()
    {
        var path = _temp.Write("a.bin", "content");
        var stamp = HashedFile.Of(new FileInfo(path), ok: true, "abc");

        File.WriteAllText(path, "CONTENT");
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddSeconds(5));
        Assert.False(stamp.StillDescribes(new FileInfo(path), "abc"));

        var other = _temp.Write("b.bin", "content");
        File.SetLastWriteTimeUtc(other, new DateTime(stamp.MtimeTicks, DateTimeKind.Utc));
        Assert.False(stamp.StillDescribes(new FileInfo(other), "abc"));
    }
}
