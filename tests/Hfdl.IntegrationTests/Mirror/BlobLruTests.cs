using Hfdl.Core.Hub;
using Hfdl.Hub.Mirror;
using Hfdl.IntegrationTests.Support;
using static Hfdl.IntegrationTests.Mirror.MirrorKit;

namespace Hfdl.IntegrationTests.Mirror;

/// <summary>
/// The mirror's least-recently-used index of stored blobs (<c>--max-size</c>), on real files: what it counts is what the
/// store holds, also when a blob is stored again while it is being evicted.
/// </summary>
public sealed class BlobLruTests : IDisposable
{
    private readonly TempFolder _temp = new("hfdl-blob-lru");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_blob_stored_again_while_it_is_evicted_stays_counted_and_the_next_oldest_goes()
    {
        var repo = new MirrorRepo(RepoType.Model, RepoId.Parse("acme/model"));
        var blobs = Directory.CreateDirectory(_temp.Combine("models--acme--model", "blobs")).FullName;
        var older = Blob(blobs, 'a');
        var newer = Blob(blobs, 'b');
        var metrics = new MirrorMetrics();
        var lru = new BlobLru(maxSize: 150, new MirrorLog(null, TimeProvider.System), metrics);
        var storedAgain = false;
        lru.UnderRepoLock = async (_, delete) =>
        {
            await delete();
            if (!storedAgain)
            {
                // A client asks for the older blob right after its deletion, before the eviction's bookkeeping: a
                // transfer stores it again.
                storedAgain = true;
                await File.WriteAllBytesAsync(older, new byte[100]);
                lru.Added(repo, older, 100);
            }
        };

        lru.Added(repo, older, 100);
        lru.Added(repo, newer, 100); // 200 bytes over a bound of 150: the older one goes

        await WaitUntilAsync(() => metrics.Evictions == 2, "the eviction of both blobs in turn (the older one came back as the newest)");
        Assert.True(File.Exists(older), "the blob stored again after its eviction is in the store");
        Assert.False(File.Exists(newer));
        Assert.Equal(100, lru.TotalBytes);
        Assert.Equal(Directory.EnumerateFiles(blobs).Sum(f => new FileInfo(f).Length), lru.TotalBytes);
    }

    private static string Blob(string folder, char digit)
    {
        var path = Path.Combine(folder, new string(digit, 64));
        File.WriteAllBytes(path, new byte[100]);
        return path;
    }
}
