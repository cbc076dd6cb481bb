using Hfdl.Core.Hub;

namespace Hfdl.Core.Storage;

/// <summary>Where a repo's files go on disk.</summary>
internal static class RepoLayout
{
    /// <summary>
    /// The seed layout under a base directory: models in <c>&lt;dir&gt;/&lt;owner&gt;/&lt;name&gt;</c>, datasets in
    /// <c>&lt;dir&gt;/datasets/&lt;owner&gt;/&lt;name&gt;</c>, spaces in <c>&lt;dir&gt;/spaces/&lt;owner&gt;/&lt;name&gt;</c>.
    /// </summary>
    public static string RepoFolder(string baseDirectory, RepoType type, RepoId id)
    {
        var parts = new List<string> { Path.GetFullPath(baseDirectory) };
        if (type != RepoType.Model)
        {
            parts.Add(type.ApiSegment());
        }
        parts.AddRange(id.Value.Split('/'));
        return Path.Combine([.. parts]);
    }

    /// <summary>
    /// The full path of a repo file under <paramref name="root"/>. The path was validated already; this also makes
    /// sure that nothing on the way, the file itself included, is a symbolic link (or a Windows junction): a link that
    /// was already there could point outside the target, and hfdl never writes through one
    /// (<see cref="LinkInTargetException"/>). A dangling link counts.
    /// </summary>
    public static string FilePath(string root, string repoPath) => FilePath(root, repoPath, allowLinkAtEnd: false);

    /// <summary>
    /// As <see cref="FilePath(string, string)"/>; with <paramref name="allowLinkAtEnd"/> the last component may be a
    /// link (the HF cache's snapshot pointers, which hfdl itself made and replaces rather than writes through).
    /// </summary>
    public static string FilePath(string root, string repoPath, bool allowLinkAtEnd)
    {
        var fullRoot = Path.GetFullPath(root);
        var full = Path.GetFullPath(Path.Combine(fullRoot, repoPath.Replace('/', Path.DirectorySeparatorChar)));
        var rootWithSeparator = fullRoot.EndsWith(Path.DirectorySeparatorChar) ? fullRoot : fullRoot + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            throw new UnsafePathException(repoPath, "it resolves outside the target folder");
        }
        SafeFileSystem.CheckNoLinks(fullRoot, full, allowLinkAtEnd, $"the repo file '{SafeText.Printable(repoPath)}'");
        return full;
    }

    /// <summary>
    /// The HF cache's ref file of <paramref name="revision"/> under <paramref name="refsFolder"/> (<c>refs/pr/1</c>
    /// nests, as in git), with the same checks as a repo file, but said of the revision: it is the user's (or a URL's)
    /// name for a branch or tag, not a file the server listed.
    /// </summary>
    /// <param name="commit">The commit the revision resolved to, for the message, when known.</param>
    /// <param name="reading">
    /// The path is only read (by <see cref="SafeFileSystem.ReadRef"/>, which opens nothing but a small regular file):
    /// links on the way are followed, as huggingface_hub and <c>hfdl cache ls</c>/<c>prune</c> follow them.
    /// </param>
    public static string RefPath(string refsFolder, string revision, string? commit = null, bool reading = false)
    {
        var fullRoot = Path.GetFullPath(refsFolder);
        var problem = Planning.RepoFilePath.TryValidate(revision, out var invalid) ? null : invalid;
        var full = problem is null ? Path.GetFullPath(Path.Combine(fullRoot, revision.Replace('/', Path.DirectorySeparatorChar))) : "";
        if (problem is null && !full.StartsWith(fullRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            problem = "it resolves outside the refs folder";
        }
        if (problem is not null)
        {
            throw new UnsafeRevisionNameException(revision, commit, problem);
        }
        if (!reading)
        {
            SafeFileSystem.CheckNoLinks(fullRoot, full, writingTo: $"the cache's ref of revision '{SafeText.Printable(revision)}'");
            if (NestedRef(fullRoot, full) is { } other)
            {
                // git keeps refs/heads/main and refs/tags/main/x apart; the cache has one refs folder, where a name
                // cannot be both a file and a folder (huggingface_hub fails here with the OS's error).
                throw new UnsafeRevisionNameException(revision, commit,
                    $"the cache already records revision '{SafeText.Printable(other)}', and one of the two names nests under the other, so one would be a file where the other needs a folder: git keeps both, the cache cannot, unless revision '{SafeText.Printable(other)}' is removed from it first");
            }
        }
        return full;
    }

    /// <summary>
    /// A ref already in the way of <paramref name="full"/>: a ref file where one of its parent folders goes
    /// (<c>refs/main</c> for <c>main/x</c>), or a ref under it when it is a folder (<c>refs/main/x</c> for <c>main</c>).
    /// A folder in its place that holds no file (nor link) at all is removed.
    /// </summary>
    private static string? NestedRef(string fullRoot, string full)
    {
        for (var parent = Path.GetDirectoryName(full); parent is not null && parent.Length > fullRoot.Length; parent = Path.GetDirectoryName(parent))
        {
            if (File.Exists(parent))
            {
                return Path.GetRelativePath(fullRoot, parent).Replace(Path.DirectorySeparatorChar, '/');
            }
        }
        if (!Directory.Exists(full))
        {
            return null;
        }
        var entries = SafeFileSystem.WalkWithoutFollowingLinks(full).ToList();
        if (entries.All(e => e is DirectoryInfo && e.LinkTarget is null))
        {
            Directory.Delete(full, recursive: true); // Folders that hold no ref at all: nothing is lost, the ref goes there.
            return null;
        }
        var nested = entries.Where(e => e is not DirectoryInfo || e.LinkTarget is not null).Select(e => e.FullName).Order(StringComparer.Ordinal).First();
        return Path.GetRelativePath(fullRoot, nested).Replace(Path.DirectorySeparatorChar, '/');
    }
}
