using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;

namespace Hfdl.Hub.Mirror;

/// <summary>What the upstream said a repo's bytes are to a client without a token.</summary>
internal enum RepoAccess
{
    /// <summary>Never asked (or a store the mirror did not fill).</summary>
    Unknown,

    /// <summary>Served to anyone: stored commits are served without asking the upstream again.</summary>
    Public,

    /// <summary>Private or gated: stored content goes only to tokens the upstream accepted for the repo.</summary>
    Restricted,
}

/// <summary>
/// Access stays the upstream's decision. The mirror remembers what it was told: that a repo's bytes are public (kept in
/// the repo folder, <c>.hfdl.access</c>, so a restart without the upstream still serves them), and, for a short time,
/// that the upstream accepted a token for a repo, keyed by a keyed hash of the token (never the token itself). It also
/// remembers for a short time which commit a branch or tag name resolved to.
/// </summary>
internal sealed class MirrorAccess(MirrorStore store, TimeProvider time, TimeSpan accessTtl, TimeSpan revisionTtl)
{
    public const string FileName = ".hfdl.access";

    // Keyed by a secret of this process: the hashes in memory cannot be matched against a list of guessed tokens.
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<(MirrorRepo Repo, string TokenHash), long> _tokens = new();
    private readonly ConcurrentDictionary<MirrorRepo, RepoAccess> _repos = new();
    // Until when the upstream's last word that a repo is public holds for stored content without asking again: a repo
    // made private upstream stops being served to anyone within the access time-to-live.
    private readonly ConcurrentDictionary<MirrorRepo, long> _publicUntil = new();
    private readonly ConcurrentDictionary<(MirrorRepo Repo, string Revision), (string Commit, long Until)> _revisions = new();

    /// <summary>The key of a token in this process (null for no token).</summary>
    public string? HashOf(string? token) =>
        token is null ? null : Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(token)));

    public RepoAccess Of(MirrorRepo repo) => _repos.GetOrAdd(repo, Load);

    /// <summary>
    /// Whether stored content may go to this caller without asking the upstream: a repo the upstream said is public
    /// within the access time-to-live (past it, or after a restart, the upstream is asked again, once, and a repo made
    /// private since is refused), or a token the upstream accepted for it within that time.
    /// </summary>
    public bool MayServeStored(MirrorRepo repo, string? tokenHash) =>
        tokenHash is null
            ? Of(repo) == RepoAccess.Public && _publicUntil.TryGetValue(repo, out var until) && time.GetTimestamp() < until
            : IsRemembered(repo, tokenHash);

    /// <summary>
    /// Whether stored content may go to this caller when the upstream cannot be asked: public content to anyone (a
    /// token on it cannot be checked, but it opens nothing); restricted content only to a token still remembered.
    /// <paramref name="offline"/> (<c>--offline</c>, never asking) also serves a store nobody classified (the
    /// operator's own cache).
    /// </summary>
    public bool MayServeWithoutUpstream(MirrorRepo repo, string? tokenHash, bool offline) =>
        Of(repo) switch
        {
            RepoAccess.Public => true,
            RepoAccess.Unknown when offline => true,
            _ => tokenHash is not null && IsRemembered(repo, tokenHash),
        };

    /// <summary>The upstream answered this caller with the repo's content (or its metadata at a file).</summary>
    public void Accepted(MirrorRepo repo, string? tokenHash)
    {
        var until = time.GetTimestamp() + (long)(accessTtl.TotalSeconds * time.TimestampFrequency);
        if (tokenHash is null)
        {
            Set(repo, RepoAccess.Public);
            _publicUntil[repo] = until;
        }
        else
        {
            _tokens[(repo, tokenHash)] = until;
        }
    }

    /// <summary>
    /// The upstream accepted a token for a repo nobody asked about without one: until it is known to be public, its
    /// content is restricted (so that <c>--offline</c>, or the upstream down, does not hand it to anyone). True when
    /// that is news, and the repo should be classified by asking the upstream without a token.
    /// </summary>
    public bool RestrictUnclassified(MirrorRepo repo)
    {
        if (Of(repo) != RepoAccess.Unknown || !_repos.TryUpdate(repo, RepoAccess.Restricted, RepoAccess.Unknown))
        {
            return false;
        }
        Save(repo, RepoAccess.Restricted);
        return true;
    }

    /// <summary>The upstream refused this caller (401/403/404 for the repo).</summary>
    public void Refused(MirrorRepo repo, string? tokenHash)
    {
        if (tokenHash is null)
        {
            _publicUntil.TryRemove(repo, out _);
            if (Directory.Exists(store.RepoFolder(repo)) || Of(repo) != RepoAccess.Unknown)
            {
                Set(repo, RepoAccess.Restricted);
            }
        }
        else
        {
            _tokens.TryRemove((repo, tokenHash), out _);
        }
    }

    private bool IsRemembered(MirrorRepo repo, string tokenHash) =>
        _tokens.TryGetValue((repo, tokenHash), out var until) && time.GetTimestamp() < until;

    /// <summary>The commit a branch or tag resolved to within the time-to-live (a commit id is itself); null when it must be asked.</summary>
    public string? FreshCommit(MirrorRepo repo, string revision) =>
        RepoDownloader.IsCommit(revision) ? revision
        : _revisions.TryGetValue((repo, revision), out var known) && time.GetTimestamp() < known.Until ? known.Commit
        : null;

    /// <summary>The commit a revision last resolved to, however long ago (the upstream cannot be asked): in memory, else the store's refs.</summary>
    public string? LastCommit(MirrorRepo repo, string revision) =>
        RepoDownloader.IsCommit(revision) ? revision
        : _revisions.TryGetValue((repo, revision), out var known) ? known.Commit
        : store.StoredCommit(repo, revision);

    /// <summary>The upstream resolved <paramref name="revision"/> to <paramref name="commit"/>; true when that is news (the store's ref should follow).</summary>
    public bool Resolved(MirrorRepo repo, string revision, string commit)
    {
        if (revision == commit)
        {
            return false;
        }
        var until = time.GetTimestamp() + (long)(revisionTtl.TotalSeconds * time.TimestampFrequency);
        var changed = !_revisions.TryGetValue((repo, revision), out var known) || known.Commit != commit;
        _revisions[(repo, revision)] = (commit, until);
        return changed && store.StoredCommit(repo, revision) != commit;
    }

    private void Set(MirrorRepo repo, RepoAccess access)
    {
        if (_repos.TryGetValue(repo, out var known) && known == access)
        {
            return;
        }
        _repos[repo] = access;
        Save(repo, access);
    }

    private void Save(MirrorRepo repo, RepoAccess access)
    {
        var folder = store.RepoFolder(repo);
        try
        {
            SafeFileSystem.CreateDirectory(store.Root, folder);
            var body = JsonSerializer.SerializeToUtf8Bytes(
                new AccessRecord { Access = access == RepoAccess.Public ? "public" : "restricted", CheckedAt = time.GetUtcNow() },
                AccessJsonContext.Default.AccessRecord);
            AtomicFile.WriteAllBytes(store.Root, Path.Combine(folder, FileName), body, durable: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HfdlException)
        {
            // Remembered in memory all the same; after a restart the upstream is asked again.
        }
    }

    private RepoAccess Load(MirrorRepo repo)
    {
        var path = Path.Combine(store.RepoFolder(repo), FileName);
        try
        {
            if (SafeFileSystem.LinkTarget(path) is null && File.Exists(path)
                && JsonSerializer.Deserialize(SafeFileSystem.ReadRegularFile(path), AccessJsonContext.Default.AccessRecord) is { } record)
            {
                return record.Access switch { "public" => RepoAccess.Public, "restricted" => RepoAccess.Restricted, _ => RepoAccess.Unknown };
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            // Unreadable: as if never asked.
        }
        return RepoAccess.Unknown;
    }
}

/// <summary>The content of <c>.hfdl.access</c>.</summary>
internal sealed record AccessRecord
{
    [System.Text.Json.Serialization.JsonPropertyName("access")]
    public string? Access { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("checkedAt")]
    public DateTimeOffset CheckedAt { get; init; }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(AccessRecord))]
internal sealed partial class AccessJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
