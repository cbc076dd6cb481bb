namespace Hfdl.Hub.Server;

/// <summary>Finds the repositories a <see cref="HubServer"/> serves.</summary>
public interface IRepoStore
{
    /// <summary>
    /// The repository <paramref name="repoId"/> of <paramref name="type"/> (matched case-insensitively, as the Hub
    /// does), or null when there is none. A renamed repository is returned with <see cref="RepoSettings.RenamedTo"/> set.
    /// Called on every request, so a store may rescan its source; the snapshots it returns should cache their hashes.
    /// </summary>
    HostedRepo? FindRepo(RepoType type, string repoId);
}

/// <summary>How <c>/resolve/</c> answers for a file (hub-api.md §4.1).</summary>
public enum ResolveMode
{
    /// <summary>Like the real Hub today: LFS files get <see cref="Cdn"/>, regular files <see cref="Cache"/>.</summary>
    Realistic,

    /// <summary>200 with the bytes, as older Hubs and mirrors do.</summary>
    Direct,

    /// <summary>A relative 307 to <c>/api/resolve-cache/...</c> on the same host, which answers 200.</summary>
    Cache,

    /// <summary>An absolute 302 to the CDN listener, with a signed URL that expires.</summary>
    Cdn,
}

/// <summary>Whether and how a repository is gated.</summary>
public enum GatedMode
{
    None,
    Auto,
    Manual,
}

/// <summary>The kind of a git ref.</summary>
public enum RevisionKind
{
    Branch,
    Tag,

    /// <summary><c>refs/pr/N</c>.</summary>
    PullRequest,

    /// <summary><c>refs/convert/parquet</c> and the like.</summary>
    Convert,

    /// <summary>No ref: a commit reached only by its id (a snapshot a mirror stored); never listed in refs.</summary>
    Detached,
}

/// <summary>Per-repository behaviour. Every default is the one of an ordinary public repository.</summary>
public sealed record RepoSettings
{
    /// <summary>Private repos answer like missing ones unless the token is allowed (see <see cref="AllowedTokens"/>).</summary>
    public bool Private { get; init; }

    /// <summary>Tokens allowed to see a private repo. The owner (user named like the namespace, or an org member) always is.</summary>
    public IReadOnlyList<string> AllowedTokens { get; init; } = [];

    /// <summary>Gated repos expose metadata and listings to everyone but bytes only to approved tokens.</summary>
    public GatedMode Gated { get; init; }

    /// <summary>Tokens whose access request to a gated repo was accepted.</summary>
    public IReadOnlyList<string> ApprovedTokens { get; init; } = [];

    /// <summary>Tokens whose access request to a gated repo awaits review (a different 403 message).</summary>
    public IReadOnlyList<string> PendingTokens { get; init; } = [];

    /// <summary>Disabled repos answer 403 "Access to this resource is disabled." everywhere.</summary>
    public bool Disabled { get; init; }

    /// <summary>When set, every route of this repo answers a relative 307 to the same route under this id.</summary>
    public string? RenamedTo { get; init; }

    /// <summary>How <c>/resolve/</c> answers; a file may override it.</summary>
    public ResolveMode ResolveMode { get; init; } = ResolveMode.Realistic;

    /// <summary>Files this large or larger are LFS files, whatever their extension (default 10 MiB).</summary>
    public long LfsThreshold { get; init; } = 10L * 1024 * 1024;

    /// <summary>
    /// Serves the LFS files as Xet-backed, as the Hub does for repos stored in Xet: <c>X-Xet-Hash</c> and the Xet
    /// <c>Link</c>s on resolve, <c>xetHash</c> in listings, reconstructions on the CAS listener and xorbs on the CDN;
    /// the plain-HTTPS redirect keeps working. See <see cref="HubServerOptions.XetForAllRepos"/>.
    /// </summary>
    public bool Xet { get; init; }

    /// <summary>Faults for this repo's routes; null uses <see cref="HubServerOptions.Faults"/>.</summary>
    public HubFaults? Faults { get; init; }

    public DateTimeOffset CreatedAt { get; init; } = new(2024, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public long Downloads { get; init; } = 1234;

    public long Likes { get; init; } = 5;

    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>The model's task (<c>pipeline_tag</c>), e.g. <c>text-generation</c>; left out when null.</summary>
    public string? PipelineTag { get; init; }

    /// <summary><c>library_name</c>, e.g. <c>transformers</c>; left out when null.</summary>
    public string? LibraryName { get; init; }
}

/// <summary>One file of a snapshot. <see cref="IsLfs"/> and <see cref="ResolveMode"/> are final here.</summary>
public sealed record RepoFile(string Path, FileContent Content, bool IsLfs, ResolveMode? ResolveMode = null)
{
    /// <summary>The extensions the Hub's default <c>.gitattributes</c> stores with LFS.</summary>
    public static IReadOnlySet<string> LfsExtensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".safetensors", ".bin", ".gguf", ".pt", ".pth", ".onnx", ".h5", ".ckpt", ".msgpack", ".tflite", ".pkl",
        ".npz", ".zip", ".tar", ".gz", ".parquet", ".arrow", ".ot", ".model",
    };

    /// <summary>Whether a file goes to LFS by default: large, or a weights/archive extension.</summary>
    public static bool IsLfsByDefault(string path, long size, long threshold) =>
        size >= threshold || LfsExtensions.Contains(System.IO.Path.GetExtension(path));
}

/// <summary>
/// The files of one commit. <paramref name="salt"/> tells apart snapshots with the same files (two revisions never
/// share a commit id unless one is an alias of the other); <paramref name="date"/> is the commit date.
/// </summary>
public sealed class RepoSnapshot(IReadOnlyList<RepoFile> files, string salt, DateTimeOffset date, string title = "Upload folder")
{
    private SnapshotIndex? _index;

    public IReadOnlyList<RepoFile> Files { get; } = files;

    public string Salt { get; } = salt;

    public DateTimeOffset Date { get; } = date;

    public string Title { get; } = title;

    /// <summary>The commit id (hashes every file on first use), or <see cref="KnownCommitId"/>.</summary>
    public string CommitId => Index.CommitId;

    /// <summary>
    /// The commit id this snapshot has elsewhere (a mirror serves its upstream's commits), instead of one computed over
    /// its files.
    /// </summary>
    public string? KnownCommitId { get; init; }

    internal SnapshotIndex Index => _index ??= SnapshotIndex.Build(this);
}

/// <summary>A named ref and the snapshot it points at. Aliases share the same <see cref="RepoSnapshot"/>.</summary>
public sealed record HostedRevision(string Name, RevisionKind Kind, RepoSnapshot Snapshot);

/// <summary>A repository as a store hands it to the server.</summary>
public sealed class HostedRepo(RepoType type, string id, RepoSettings settings, IReadOnlyList<HostedRevision> revisions)
{
    public const string DefaultBranch = "main";

    public RepoType Type { get; } = type;

    public string Id { get; } = id;

    public RepoSettings Settings { get; } = settings;

    /// <summary>Every ref; one of them is the branch <see cref="DefaultBranch"/> unless the repo is only a rename.</summary>
    public IReadOnlyList<HostedRevision> Revisions { get; } = revisions;

    /// <summary>The Hub's 24-hex object id, deterministic from type and id.</summary>
    public string ObjectId => HubIds.ObjectId(Type.ApiSegment() + "/" + Id);

    /// <summary>The ref named <paramref name="name"/>; throws when there is none.</summary>
    public HostedRevision Revision(string name = DefaultBranch) =>
        Revisions.FirstOrDefault(r => r.Name == name)
            ?? throw new KeyNotFoundException($"{Type.Name()} {Id} has no ref '{name}'.");

    /// <summary>The commit id a ref points at (what <c>X-Repo-Commit</c> says for it).</summary>
    public string CommitOf(string refName = DefaultBranch) => Revision(refName).Snapshot.CommitId;
}
