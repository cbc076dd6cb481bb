using System.Collections.Concurrent;

namespace Hfdl.Hub.Server;

/// <summary>
/// Repositories built in code, for tests:
/// <code>
/// var store = new InMemoryRepoStore();
/// store.AddRepo(RepoType.Model, "acme/tiny", repo => repo
///     .File("config.json", "{\"a\":1}")
///     .File("weights/model.safetensors", SyntheticContent.Create(size: 3_000_000, seed: 7))
///     .Settings(s => s with { ResolveMode = ResolveMode.Cdn })
///     .Revision("v1.0", RevisionKind.Tag, r => r.File("config.json", "{}"))
///     .Alias("refs/pr/1", "main"));
/// </code>
/// Thread-safe; repos may be added or replaced while a server runs.
/// </summary>
public sealed class InMemoryRepoStore : IRepoStore
{
    private readonly ConcurrentDictionary<(RepoType, string), HostedRepo> _repos = new();

    public HostedRepo? FindRepo(RepoType type, string repoId) =>
        _repos.GetValueOrDefault((type, repoId.ToLowerInvariant()));

    /// <summary>Adds (or replaces) a repository; <paramref name="build"/> describes its files, settings and refs.</summary>
    public InMemoryRepoStore AddRepo(RepoType type, string repoId, Action<RepoBuilder> build)
    {
        var builder = new RepoBuilder(type, repoId);
        build(builder);
        _repos[(type, repoId.ToLowerInvariant())] = builder.Build();
        return this;
    }

    /// <summary>
    /// Replaces a repository's refs as a push to the Hub does: every commit it had stays reachable by its id (as a
    /// detached revision, never listed in refs), so a download that resolved a branch before the push finishes with
    /// that commit's files. <see cref="AddRepo"/> is a force-push that drops them.
    /// </summary>
    public InMemoryRepoStore Push(RepoType type, string repoId, Action<RepoBuilder> build)
    {
        var builder = new RepoBuilder(type, repoId);
        build(builder);
        var pushed = builder.Build();
        var key = (type, repoId.ToLowerInvariant());
        if (_repos.TryGetValue(key, out var before))
        {
            var kept = pushed.Revisions.Select(r => r.Snapshot.CommitId).ToHashSet(StringComparer.Ordinal);
            var history = before.Revisions.Select(r => r.Snapshot)
                .Where(snapshot => kept.Add(snapshot.CommitId))
                .Select(snapshot => new HostedRevision(snapshot.CommitId, RevisionKind.Detached, snapshot));
            pushed = new HostedRepo(pushed.Type, pushed.Id, pushed.Settings, [.. pushed.Revisions, .. history]);
        }
        _repos[key] = pushed;
        return this;
    }

    /// <summary>Adds a repository that was renamed: every route answers a relative 307 to <paramref name="newRepoId"/>.</summary>
    public InMemoryRepoStore AddRename(RepoType type, string oldRepoId, string newRepoId)
    {
        _repos[(type, oldRepoId.ToLowerInvariant())] =
            new HostedRepo(type, oldRepoId, new RepoSettings { RenamedTo = newRepoId }, []);
        return this;
    }

    /// <summary>The repository as the server sees it (to compute expected commit ids and etags in tests).</summary>
    public HostedRepo GetRepo(RepoType type, string repoId) =>
        FindRepo(type, repoId) ?? throw new KeyNotFoundException($"No {type} repo '{repoId}' was added.");
}

/// <summary>A set of files with per-file options, shared by the main branch and each extra revision.</summary>
public class SnapshotBuilder
{
    private readonly List<(string Path, FileContent Content, bool? Lfs, ResolveMode? Mode)> _files = [];

    // Where each path is in _files: a repo of 400,000 files is built in linear time (a scan per file was quadratic).
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    internal SnapshotBuilder()
    {
    }

    /// <summary>
    /// Adds a file. <paramref name="content"/> converts from <c>string</c> (UTF-8) and <c>byte[]</c>; use
    /// <see cref="SyntheticContent"/> for large files. <paramref name="lfs"/> null means "by size and extension";
    /// <paramref name="resolveMode"/> overrides the repo's mode for this file.
    /// </summary>
    public SnapshotBuilder File(string path, FileContent content, bool? lfs = null, ResolveMode? resolveMode = null)
    {
        Remove(path);
        _index[path] = _files.Count;
        _files.Add((path, content, lfs, resolveMode));
        return this;
    }

    /// <summary>Removes a file added earlier (or inherited with <see cref="RepoBuilder.Revision"/>'s copy).</summary>
    public SnapshotBuilder Remove(string path)
    {
        if (_index.Remove(path, out var position))
        {
            _files.RemoveAt(position);
            for (var i = position; i < _files.Count; i++)
            {
                _index[_files[i].Path] = i;
            }
        }
        return this;
    }

    internal void CopyFrom(SnapshotBuilder other)
    {
        foreach (var file in other._files)
        {
            File(file.Path, file.Content, file.Lfs, file.Mode);
        }
    }

    internal RepoSnapshot Build(RepoSettings settings, string salt, DateTimeOffset date) =>
        new(
            _files.Select(f => new RepoFile(
                    f.Path,
                    f.Content,
                    f.Lfs ?? RepoFile.IsLfsByDefault(f.Path, f.Content.Length, settings.LfsThreshold),
                    f.Mode))
                .ToList(),
            salt,
            date);
}

/// <summary>Describes one repository of an <see cref="InMemoryRepoStore"/>; its own files are the <c>main</c> branch.</summary>
public sealed class RepoBuilder : SnapshotBuilder
{
    private readonly RepoType _type;
    private readonly string _id;
    private readonly List<(string Name, RevisionKind Kind, SnapshotBuilder Files, DateTimeOffset? Date)> _revisions = [];
    private readonly List<(string Name, RevisionKind Kind, string Target)> _aliases = [];
    private RepoSettings _settings = new();
    private DateTimeOffset _date = new(2025, 1, 15, 10, 30, 0, TimeSpan.Zero);

    internal RepoBuilder(RepoType type, string id)
    {
        _type = type;
        _id = id;
    }

    /// <summary>Adds a file to the main branch (see <see cref="SnapshotBuilder.File"/>).</summary>
    public new RepoBuilder File(string path, FileContent content, bool? lfs = null, ResolveMode? resolveMode = null)
    {
        base.File(path, content, lfs, resolveMode);
        return this;
    }

    /// <summary>Changes the settings: <c>.Settings(s => s with { Private = true })</c>.</summary>
    public RepoBuilder Settings(Func<RepoSettings, RepoSettings> change)
    {
        _settings = change(_settings);
        return this;
    }

    /// <summary>The date of the main commit (and of every revision), for <c>lastModified</c> and <c>lastCommit.date</c>.</summary>
    public RepoBuilder CommitDate(DateTimeOffset date)
    {
        _date = date;
        return this;
    }

    /// <summary>
    /// Adds a ref with its own snapshot. With <paramref name="inheritMain"/> it starts from the main branch's files
    /// (so <paramref name="build"/> lists only the changes). <paramref name="date"/> dates its commit (default: the
    /// main commit's date); Xet-backed repos store their snapshots' chunks in commit order.
    /// </summary>
    public RepoBuilder Revision(string name, RevisionKind kind, Action<SnapshotBuilder> build, bool inheritMain = false, DateTimeOffset? date = null)
    {
        var files = new SnapshotBuilder();
        if (inheritMain)
        {
            files.CopyFrom(this);
        }
        build(files);
        _revisions.Add((name, kind, files, date));
        return this;
    }

    /// <summary>Adds a ref that points at the same commit as <paramref name="target"/>. The kind follows the name when omitted.</summary>
    public RepoBuilder Alias(string name, string target, RevisionKind? kind = null)
    {
        _aliases.Add((name, kind ?? KindOf(name), target));
        return this;
    }

    internal static RevisionKind KindOf(string name) =>
        name.StartsWith("refs/pr/", StringComparison.Ordinal) ? RevisionKind.PullRequest
        : name.StartsWith("refs/convert/", StringComparison.Ordinal) ? RevisionKind.Convert
        : RevisionKind.Branch;

    internal HostedRepo Build()
    {
        var prefix = _type.ApiSegment() + "/" + _id + "@";
        var revisions = new List<HostedRevision>
        {
            new(HostedRepo.DefaultBranch, RevisionKind.Branch, Build(_settings, prefix + HostedRepo.DefaultBranch, _date)),
        };
        foreach (var (name, kind, files, date) in _revisions)
        {
            revisions.RemoveAll(r => r.Name == name);
            revisions.Add(new HostedRevision(name, kind, files.Build(_settings, prefix + name, date ?? _date)));
        }
        foreach (var (name, kind, target) in _aliases)
        {
            var snapshot = revisions.FirstOrDefault(r => r.Name == target)?.Snapshot
                ?? throw new InvalidOperationException($"Alias '{name}' points at '{target}', which is not a ref of {_id}.");
            revisions.RemoveAll(r => r.Name == name);
            revisions.Add(new HostedRevision(name, kind, snapshot));
        }
        return new HostedRepo(_type, _id, _settings, revisions);
    }
}
