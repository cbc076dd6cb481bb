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
        }
        return full;
    }
}
