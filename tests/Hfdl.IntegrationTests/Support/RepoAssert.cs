using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Support;

public static class RepoAssert
{
    /// <summary>Every file of the snapshot exists in <paramref name="folder"/> with exactly the served bytes.</summary>
    public static void BitExact(RepoSnapshot snapshot, string folder, IEnumerable<string>? only = null)
    {
        var wanted = only?.ToHashSet(StringComparer.Ordinal);
        foreach (var file in snapshot.Files.Where(f => wanted is null || wanted.Contains(f.Path)))
        {
            var path = Path.Combine(folder, file.Path.Replace('/', Path.DirectorySeparatorChar));
            Assert.True(File.Exists(path), $"missing {file.Path} in {folder}");
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                info = (FileInfo)info.ResolveLinkTarget(returnFinalTarget: true)!; // an HF cache snapshot pointer
            }
            Assert.Equal(file.Content.Length, info.Length);
            using var stream = File.OpenRead(path);
            var expected = new byte[1024 * 1024];
            var actual = new byte[1024 * 1024];
            long offset = 0;
            while (offset < info.Length)
            {
                var count = (int)Math.Min(expected.Length, info.Length - offset);
                file.Content.ReadAt(offset, expected.AsSpan(0, count));
                stream.ReadExactly(actual, 0, count);
                Assert.True(expected.AsSpan(0, count).SequenceEqual(actual.AsSpan(0, count)), $"{file.Path} differs near offset {offset}");
                offset += count;
            }
        }
    }

    /// <summary>No final file and no leftover temporary file exists for <paramref name="repoPath"/>.</summary>
    public static void NoFinalFile(string folder, string repoPath) =>
        Assert.False(File.Exists(Path.Combine(folder, repoPath)), $"{repoPath} must not exist under its final name");

    /// <summary>
    /// Files in <paramref name="folder"/>, relative, without hfdl's journal and lock or huggingface_hub's
    /// <c>.cache/huggingface/</c> metadata (temporary <c>.hfdl-part</c> files are listed: tests look for leftovers).
    /// </summary>
    /// <summary>Only hfdl's own bookkeeping (journal, lock) may be in the folder: no repo file, no temporary file.</summary>
    public static void NothingButBookkeeping(string folder) =>
        Assert.DoesNotContain(ListFiles(folder), f =>
            !f.StartsWith(Hfdl.Core.Storage.DownloadState.FileName, StringComparison.Ordinal) && !f.StartsWith(Hfdl.Core.Storage.RepoFolderLock.FileName, StringComparison.Ordinal));

    public static List<string> ListFiles(string folder) =>
        Directory.Exists(folder)
            ? [.. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/'))
                .Where(f => !f.StartsWith(".cache/huggingface/", StringComparison.Ordinal) && !f.StartsWith(".download_state", StringComparison.Ordinal) && !f.StartsWith(".hfdl.lock", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)]
            : [];

    public static RepoSnapshot MainSnapshot(this InMemoryRepoStore store, RepoType type, string id) =>
        store.GetRepo(type, id).Revisions.Single(r => r.Name == "main").Snapshot;

    public static RepoSnapshot At(this InMemoryRepoStore store, RepoType type, string id, string revision) =>
        store.GetRepo(type, id).Revisions.Single(r => r.Name == revision).Snapshot;
}
