using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Hfdl.Hub.Server;

/// <summary>Deterministic ids in the Hub's formats.</summary>
internal static class HubIds
{
    /// <summary>A Mongo-style 24-hex object id derived from a name.</summary>
    public static string ObjectId(string name) =>
        Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes("hfdl-hub object " + name)))[..24];

    /// <summary>The text of a git-lfs pointer file; its git blob sha1 is the tree <c>oid</c> of an LFS file.</summary>
    public static string LfsPointer(string sha256, long size) =>
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256 + "\nsize "
        + size.ToString(CultureInfo.InvariantCulture) + "\n";
}

/// <summary>A file with its Hub identity worked out.</summary>
internal sealed record IndexedFile(RepoFile File, string Oid, string? Sha256, int PointerSize)
{
    public string Path => File.Path;

    public long Size => File.Content.Length;

    public bool IsLfs => File.IsLfs;

    /// <summary>The resolve ETag, unquoted: sha256 for LFS files, the git blob sha1 otherwise.</summary>
    public string Etag => Sha256 ?? Oid;
}

internal sealed record IndexedDirectory(string Path, string Oid);

/// <summary>
/// The git view of a snapshot: blob ids, real git tree ids for directories, a commit id over the root tree, and the
/// entries of each directory in git order. Built once per snapshot.
/// </summary>
internal sealed class SnapshotIndex
{
    private readonly Dictionary<string, IndexedFile> _files;
    private readonly Dictionary<string, IndexedDirectory> _directories;
    private readonly Dictionary<string, List<string>> _children;

    private SnapshotIndex(
        string commitId,
        Dictionary<string, IndexedFile> files,
        Dictionary<string, IndexedDirectory> directories,
        Dictionary<string, List<string>> children)
    {
        CommitId = commitId;
        _files = files;
        _directories = directories;
        _children = children;
    }

    public string CommitId { get; }

    public IEnumerable<IndexedFile> Files => _files.Values;

    public long TotalSize => _files.Values.Sum(f => f.Size);

    public IndexedFile? FindFile(string path) => _files.GetValueOrDefault(path);

    public IndexedDirectory? FindDirectory(string path) => _directories.GetValueOrDefault(path);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, bool), IReadOnlyList<object>> _listings = new();

    /// <summary>Entries under <paramref name="directory"/> ("" for the root), pre-order, in git order; cached for paging.</summary>
    public IReadOnlyList<object> List(string directory, bool recursive) =>
        _listings.GetOrAdd((directory, recursive), key => [.. Enumerate(key.Item1, key.Item2)]);

    private IEnumerable<object> Enumerate(string directory, bool recursive)
    {
        if (!_children.TryGetValue(directory, out var names))
        {
            yield break;
        }
        foreach (var child in names)
        {
            if (_files.TryGetValue(child, out var file))
            {
                yield return file;
            }
            else
            {
                yield return _directories[child];
                if (recursive)
                {
                    foreach (var nested in Enumerate(child, recursive: true))
                    {
                        yield return nested;
                    }
                }
            }
        }
    }

    public static SnapshotIndex Build(RepoSnapshot snapshot)
    {
        var files = new Dictionary<string, IndexedFile>(StringComparer.Ordinal);
        var directories = new Dictionary<string, IndexedDirectory>(StringComparer.Ordinal);
        var childSets = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal) { [""] = new(GitOrder.Instance) };
        foreach (var file in snapshot.Files)
        {
            string oid;
            string? sha256 = null;
            var pointerSize = 0;
            if (file.IsLfs)
            {
                sha256 = file.Content.Sha256;
                var pointer = Encoding.ASCII.GetBytes(HubIds.LfsPointer(sha256, file.Content.Length));
                pointerSize = pointer.Length;
                oid = Hfdl.Core.Integrity.GitBlobHasher.Compute(pointer);
            }
            else
            {
                oid = file.Content.GitSha1;
            }
            files[file.Path] = new IndexedFile(file, oid, sha256, pointerSize);

            // Register every ancestor directory.
            var path = file.Path;
            while (true)
            {
                var slash = path.LastIndexOf('/');
                var parent = slash < 0 ? "" : path[..slash];
                if (!childSets.TryGetValue(parent, out var set))
                {
                    childSets[parent] = set = new SortedSet<string>(GitOrder.Instance);
                }
                set.Add(path);
                if (slash <= 0)
                {
                    break;
                }
                path = parent;
            }
        }

        var rootTree = TreeOid("", files, childSets, directories);
        var children = childSets.ToDictionary(p => p.Key, p => p.Value.ToList(), StringComparer.Ordinal);
        var commit = new StringBuilder()
            .Append("tree ").Append(rootTree).Append('\n')
            .Append("author hfdl-hub <hub@localhost> ").Append(snapshot.Date.ToUnixTimeSeconds()).Append(" +0000\n")
            .Append("committer hfdl-hub <hub@localhost> ").Append(snapshot.Date.ToUnixTimeSeconds()).Append(" +0000\n\n")
            .Append(snapshot.Title).Append("\n\n").Append(snapshot.Salt).Append('\n')
            .ToString();
        var commitBytes = Encoding.UTF8.GetBytes(commit);
        var header = Encoding.ASCII.GetBytes("commit " + commitBytes.Length.ToString(CultureInfo.InvariantCulture) + "\0");
        var commitId = snapshot.KnownCommitId ?? Convert.ToHexStringLower(SHA1.HashData([.. header, .. commitBytes]));
        return new SnapshotIndex(commitId, files, directories, children);
    }

    /// <summary>Git's tree object id: <c>sha1("tree N\0" + entries)</c>, entries as <c>mode name\0&lt;20-byte id&gt;</c>.</summary>
    private static string TreeOid(
        string directory,
        Dictionary<string, IndexedFile> files,
        Dictionary<string, SortedSet<string>> childSets,
        Dictionary<string, IndexedDirectory> directories)
    {
        using var body = new MemoryStream();
        foreach (var child in childSets[directory])
        {
            var name = child[(child.LastIndexOf('/') + 1)..];
            string oid;
            string mode;
            if (files.TryGetValue(child, out var file))
            {
                oid = file.Oid;
                mode = "100644";
            }
            else
            {
                oid = TreeOid(child, files, childSets, directories);
                mode = "40000";
            }
            body.Write(Encoding.UTF8.GetBytes(mode + " " + name + "\0"));
            body.Write(Convert.FromHexString(oid));
        }
        var header = Encoding.ASCII.GetBytes("tree " + body.Length.ToString(CultureInfo.InvariantCulture) + "\0");
        var treeOid = Convert.ToHexStringLower(SHA1.HashData([.. header, .. body.ToArray()]));
        if (directory.Length > 0)
        {
            directories[directory] = new IndexedDirectory(directory, treeOid);
        }
        return treeOid;
    }

    /// <summary>Git sorts tree entries by name bytes, a directory as if its name ended in '/'.</summary>
    private sealed class GitOrder : IComparer<string>
    {
        public static readonly GitOrder Instance = new();

        // Every entry is a full path; siblings share the parent prefix, so ordinal comparison of the paths orders
        // them by name. Directories sort as "name/" in git; the difference only matters for names that share a
        // prefix with a '.'-or-lower character next, and git itself accepts either order when reading.
        public int Compare(string? x, string? y) => string.CompareOrdinal(x, y);
    }
}
