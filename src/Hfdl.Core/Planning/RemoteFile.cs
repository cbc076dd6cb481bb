using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;

namespace Hfdl.Core.Planning;

/// <summary>A file of a repo at one commit, with what hfdl expects to receive.</summary>
/// <param name="Path">The path in the repo, with <c>/</c> separators, checked to be a name hfdl can write.</param>
/// <param name="Size">The content size in bytes.</param>
/// <param name="Hash">The digest the content must have: sha256 for LFS files, git blob sha1 otherwise.</param>
/// <param name="IsLfs">Stored with LFS or Xet (usually weights and other big files).</param>
public sealed record RemoteFile(string Path, long Size, ContentHash Hash, bool IsLfs)
{
    private readonly string? _gitOid;

    /// <summary>
    /// The git object id of the file (for LFS files, of its pointer), when the listing gave it. A regular file's is its
    /// hash, so only an LFS file's is stored.
    /// </summary>
    public string? GitOid
    {
        get => _gitOid ?? (IsLfs ? null : Hash.Hex);
        init => _gitOid = IsLfs || value is null || !ContentHash.TryFromEtag(value, out var oid) || oid != Hash ? value : null;
    }

    /// <summary>The Xet hash, when the listing gave a valid one (a gated repo's listing redacts it as 64 '*').</summary>
    public string? XetHash { get; init; }

    /// <summary>The listing carried a redacted Xet hash (64 '*', a gated repo seen without access).</summary>
    public bool XetRedacted { get; init; }

    /// <summary>
    /// Why hfdl refuses to write a file of this name (<see cref="RepoFilePath"/>: a backslash, a <c>..</c> segment, an
    /// absolute path...), or null. A listing keeps such a file so that the rest of the repo can still be listed and
    /// selected around it; the selection refuses it when it is among the files asked for (<see cref="FilePlanner.RefuseUnwritable"/>).
    /// </summary>
    internal string? WriteProblem { get; init; }

    /// <summary>The etag the Hub serves for this file (and the blob name in the HF cache).</summary>
    public string Etag => Hash.Hex;

    /// <summary>Reads a tree or paths-info entry. Returns null for directories.</summary>
    internal static RemoteFile? FromTreeEntry(TreeEntry entry)
    {
        if (!entry.IsFile)
        {
            return null;
        }
        var writeProblem = WriteProblemOf(entry.Path);
        if (entry.Lfs is { } lfs)
        {
            if (!ContentHash.TryFromEtag(lfs.Oid, out var sha) || sha.Kind != HashKind.Sha256)
            {
                throw new HubProtocolException($"The Hub listed '{SafeText.Printable(entry.Path)}' as an LFS file with an invalid sha256 ('{Truncate(lfs.Oid)}').");
            }
            return new RemoteFile(entry.Path, CheckSize(entry.Path, lfs.Size, entry.Size), sha, IsLfs: true)
            {
                GitOid = ContentHash.TryFromEtag(entry.Oid, out var pointer) && pointer.Kind == HashKind.GitSha1 ? pointer.Hex : null,
                XetHash = entry.XetHash is { Length: 64 } xet && ContentHash.IsHex(xet) ? xet.ToLowerInvariant() : null,
                XetRedacted = entry.XetHash is { } raw && !(raw.Length == 64 && ContentHash.IsHex(raw)),
                WriteProblem = writeProblem,
            };
        }
        if (!ContentHash.TryFromEtag(entry.Oid, out var sha1) || sha1.Kind != HashKind.GitSha1)
        {
            throw new HubProtocolException($"The Hub listed '{SafeText.Printable(entry.Path)}' with an invalid git object id ('{Truncate(entry.Oid)}').");
        }
        return new RemoteFile(entry.Path, CheckSize(entry.Path, entry.Size, entry.Size), sha1, IsLfs: false) { WriteProblem = writeProblem };
    }

    /// <summary>
    /// Why a listed name cannot be written (<see cref="WriteProblem"/>), or null. A missing or empty name is no file at
    /// all: it fails the listing.
    /// </summary>
    internal static string? WriteProblemOf(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            RepoFilePath.Validate(path);
        }
        return RepoFilePath.TryValidate(path, out var problem) ? null : problem;
    }

    private static long CheckSize(string path, long size, long listedSize)
    {
        FileSizes.Check(path, Math.Min(size, listedSize));
        FileSizes.Check(path, Math.Max(size, listedSize));
        if (size != listedSize)
        {
            throw new HubProtocolException($"The Hub listed '{SafeText.Printable(path)}' with two different sizes ({listedSize} and {size} in its LFS record).");
        }
        return size;
    }

    /// <summary>Server text quoted in a message: cut, and with control characters escaped (it reaches terminals and logs).</summary>
    private static string Truncate(string? text) => SafeText.Escape(text is null ? "" : text.Length > 80 ? text[..80] + "..." : text);
}
