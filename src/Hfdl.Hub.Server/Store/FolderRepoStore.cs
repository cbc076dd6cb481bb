using System.Text.Json;

namespace Hfdl.Hub.Server;

/// <summary>
/// Serves repositories from folders:
/// <list type="bullet">
/// <item><c>&lt;root&gt;/{models,datasets,spaces}/&lt;owner&gt;/&lt;name&gt;/</c> holds the files of the main branch;
/// a legacy id (<c>gpt2</c>) is <c>&lt;root&gt;/models/gpt2/</c> when that folder directly contains files.</item>
/// <item>An optional settings file beside the repo folder, <c>&lt;root&gt;/models/&lt;owner&gt;/&lt;name&gt;.hub.json</c>
/// (so it is never a repo file): <c>private</c>, <c>gated</c> (false|"auto"|"manual"), <c>disabled</c>,
/// <c>allowedTokens</c>, <c>approvedTokens</c>, <c>pendingTokens</c>, <c>renamedTo</c>, <c>resolveMode</c>
/// (realistic|direct|cache|cdn), <c>lfsThreshold</c>, <c>xet</c> (true: LFS files are Xet-backed), and <c>revisions</c>:
/// <c>{"v1.0":{"kind":"tag","folder":"tiny-v1"},"refs/pr/1":{"kind":"pr","folder":"..."},"dev":{"kind":"branch","sameAs":"main"}}</c>
/// where <c>folder</c> is relative to the settings file's folder. A renamed repo needs only its settings file.</item>
/// </list>
/// The folders are rescanned on every request; file digests are cached by path, size and modification time.
/// </summary>
public sealed class FolderRepoStore : IRepoStore
{
    private readonly DigestCache _digests = new();

    // Synthetic files are the same objects from scan to scan, so their digests are computed once.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(long, ulong), SyntheticContent> _synthetic = new();

    public FolderRepoStore(string rootDirectory)
    {
        RootDirectory = Path.GetFullPath(rootDirectory);
    }

    public string RootDirectory { get; }

    public HostedRepo? FindRepo(RepoType type, string repoId)
    {
        var typeDir = Path.Combine(RootDirectory, type.ApiSegment());
        var parts = repoId.Split('/');
        if (parts.Length is < 1 or > 2 || parts.Any(p => p.Length == 0 || p is "." or ".." || p.Contains('\\')))
        {
            return null;
        }

        var parentDir = parts.Length == 2 ? FindChild(typeDir, parts[0], directory: true) : typeDir;
        if (parentDir is null)
        {
            return null;
        }
        var name = parts[^1];
        var repoDir = FindChild(parentDir, name, directory: true);
        var settingsFile = FindChild(parentDir, name + ".hub.json", directory: false);
        if (repoDir is null && settingsFile is null)
        {
            return null;
        }
        if (parts.Length == 1 && repoDir is not null && settingsFile is null
            && Directory.EnumerateFiles(repoDir).All(f => f.EndsWith(".hub.json", StringComparison.Ordinal)))
        {
            // An owner folder (holding repos and their settings files), not a legacy repo.
            return null;
        }

        var canonicalId = parts.Length == 2
            ? Path.GetFileName(parentDir) + "/" + Path.GetFileName(repoDir ?? settingsFile![..^".hub.json".Length])
            : Path.GetFileName(repoDir ?? settingsFile![..^".hub.json".Length]);
        var (settings, revisionSpecs, synthetic) = settingsFile is null
            ? (new RepoSettings(), new List<RevisionSpec>(), new List<RepoFile>())
            : CachedSettings(settingsFile);
        if (settings.RenamedTo is not null)
        {
            return new HostedRepo(type, canonicalId, settings, []);
        }
        if (repoDir is null && synthetic.Count == 0)
        {
            return null;
        }

        var salt = type.ApiSegment() + "/" + canonicalId + "@";
        var main = Snapshot(repoDir, settings, salt + HostedRepo.DefaultBranch, synthetic);
        var revisions = new List<HostedRevision> { new(HostedRepo.DefaultBranch, RevisionKind.Branch, main) };
        var settingsDir = Path.GetDirectoryName(settingsFile) ?? RootDirectory;
        foreach (var spec in revisionSpecs)
        {
            if (spec.Folder is not null)
            {
                var folder = Path.GetFullPath(Path.Combine(settingsDir, spec.Folder));
                if (!Directory.Exists(folder))
                {
                    throw new InvalidDataException($"{settingsFile}: the folder of revision '{spec.Name}' does not exist: {folder}");
                }
                revisions.Add(new HostedRevision(spec.Name, spec.Kind, Snapshot(folder, settings, salt + spec.Name)));
            }
        }
        foreach (var spec in revisionSpecs.Where(s => s.SameAs is not null))
        {
            var target = revisions.FirstOrDefault(r => r.Name == spec.SameAs)
                ?? throw new InvalidDataException($"{settingsFile}: revision '{spec.Name}' is sameAs '{spec.SameAs}', which does not exist.");
            revisions.Add(new HostedRevision(spec.Name, spec.Kind, target.Snapshot));
        }
        return new HostedRepo(type, canonicalId, settings, revisions);
    }

    private RepoSnapshot Snapshot(string? folder, RepoSettings settings, string salt, IReadOnlyList<RepoFile>? synthetic = null)
    {
        var files = new List<RepoFile>(synthetic ?? []);
        var newest = DateTime.MinValue;
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        foreach (var full in folder is null ? [] : Directory.EnumerateFiles(folder, "*", options))
        {
            var relative = Path.GetRelativePath(folder!, full).Replace(Path.DirectorySeparatorChar, '/');
            if (relative.StartsWith(".git/", StringComparison.Ordinal))
            {
                continue;
            }
            var info = new FileInfo(full);
            if (info.LastWriteTimeUtc > newest)
            {
                newest = info.LastWriteTimeUtc;
            }
            var content = new PhysicalFileContent(full, info.Length, _digests.Get(full, info.Length, info.LastWriteTimeUtc));
            files.Add(new RepoFile(relative, content, RepoFile.IsLfsByDefault(relative, info.Length, settings.LfsThreshold)));
        }
        var date = newest == DateTime.MinValue ? settings.CreatedAt : new DateTimeOffset(newest.Ticks - (newest.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        return new RepoSnapshot(files, salt, date);
    }

    private static string? FindChild(string parent, string name, bool directory)
    {
        var exact = Path.Combine(parent, name);
        if (directory ? Directory.Exists(exact) : File.Exists(exact))
        {
            return exact;
        }
        if (!Directory.Exists(parent))
        {
            return null;
        }
        // Repo ids are case-insensitive on the Hub.
        var entries = directory ? Directory.EnumerateDirectories(parent) : Directory.EnumerateFiles(parent);
        return entries.FirstOrDefault(e => string.Equals(Path.GetFileName(e), name, StringComparison.OrdinalIgnoreCase));
    }

    private sealed record RevisionSpec(string Name, RevisionKind Kind, string? Folder, string? SameAs);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Length, DateTime Modified, (RepoSettings, List<RevisionSpec>, List<RepoFile>) Read)> _settings = new(StringComparer.Ordinal);

    /// <summary>
    /// A settings file as read while it is unchanged: the same <see cref="HubFaults"/> instance keeps its counters, so a
    /// fault that strikes the first N requests runs out instead of striking every request of a rescan (editing the
    /// file starts them over).
    /// </summary>
    private (RepoSettings, List<RevisionSpec>, List<RepoFile>) CachedSettings(string file)
    {
        var info = new FileInfo(file);
        if (_settings.TryGetValue(file, out var cached) && cached.Length == info.Length && cached.Modified == info.LastWriteTimeUtc)
        {
            return cached.Read;
        }
        var read = ReadSettings(file);
        _settings[file] = (info.Length, info.LastWriteTimeUtc, read);
        return read;
    }

    private (RepoSettings, List<RevisionSpec>, List<RepoFile>) ReadSettings(string file)
    {
        var synthetic = new List<(string Path, long Size, ulong Seed)>();
        using var document = JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var root = document.RootElement;
        var settings = new RepoSettings();
        var revisions = new List<RevisionSpec>();
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "private":
                    settings = settings with { Private = value.GetBoolean() };
                    break;
                case "gated":
                    settings = settings with { Gated = ParseGated(value, file) };
                    break;
                case "disabled":
                    settings = settings with { Disabled = value.GetBoolean() };
                    break;
                case "allowedTokens":
                    settings = settings with { AllowedTokens = Strings(value) };
                    break;
                case "approvedTokens":
                    settings = settings with { ApprovedTokens = Strings(value) };
                    break;
                case "pendingTokens":
                    settings = settings with { PendingTokens = Strings(value) };
                    break;
                case "renamedTo":
                    settings = settings with { RenamedTo = value.GetString() };
                    break;
                case "resolveMode":
                    settings = settings with
                    {
                        ResolveMode = Enum.TryParse<ResolveMode>(value.GetString(), ignoreCase: true, out var mode)
                            ? mode
                            : throw new InvalidDataException($"{file}: resolveMode must be realistic, direct, cache or cdn."),
                    };
                    break;
                case "lfsThreshold":
                    settings = settings with { LfsThreshold = value.GetInt64() };
                    break;
                case "xet":
                    settings = settings with { Xet = value.GetBoolean() };
                    break;
                case "syntheticFiles":
                    // Generated files of the main branch that need no disk space: {"big.safetensors":{"size":2147483648,"seed":1}}.
                    foreach (var entry in value.EnumerateObject())
                    {
                        synthetic.Add((
                            entry.Name,
                            entry.Value.GetProperty("size").GetInt64(),
                            entry.Value.TryGetProperty("seed", out var seed) ? seed.GetUInt64() : 0));
                    }
                    break;
                case "faults":
                    settings = settings with { Faults = HubFaultsJson.Read(value, file) };
                    break;
                case "revisions":
                    foreach (var revision in value.EnumerateObject())
                    {
                        var kindText = revision.Value.TryGetProperty("kind", out var k) ? k.GetString() : null;
                        var kind = kindText?.ToLowerInvariant() switch
                        {
                            "tag" => RevisionKind.Tag,
                            "pr" or "pullrequest" => RevisionKind.PullRequest,
                            "convert" => RevisionKind.Convert,
                            "branch" => RevisionKind.Branch,
                            null => RepoBuilder.KindOf(revision.Name),
                            _ => throw new InvalidDataException($"{file}: revision '{revision.Name}' has an unknown kind '{kindText}'."),
                        };
                        var folder = revision.Value.TryGetProperty("folder", out var f) ? f.GetString() : null;
                        var sameAs = revision.Value.TryGetProperty("sameAs", out var s) ? s.GetString() : null;
                        if ((folder is null) == (sameAs is null))
                        {
                            throw new InvalidDataException($"{file}: revision '{revision.Name}' needs exactly one of 'folder' and 'sameAs'.");
                        }
                        revisions.Add(new RevisionSpec(revision.Name, kind, folder, sameAs));
                    }
                    break;
            }
        }
        var files = synthetic
            .Select(f => new RepoFile(
                f.Path,
                _synthetic.GetOrAdd((f.Size, f.Seed), key => SyntheticContent.Create(key.Item1, key.Item2)),
                RepoFile.IsLfsByDefault(f.Path, f.Size, settings.LfsThreshold)))
            .ToList();
        return (settings, revisions, files);
    }

    private static GatedMode ParseGated(JsonElement value, string file) => value.ValueKind switch
    {
        JsonValueKind.False or JsonValueKind.Null => GatedMode.None,
        JsonValueKind.String when value.GetString() is "auto" => GatedMode.Auto,
        JsonValueKind.String when value.GetString() is "manual" => GatedMode.Manual,
        _ => throw new InvalidDataException($"{file}: gated must be false, \"auto\" or \"manual\"."),
    };

    private static string[] Strings(JsonElement value) => [.. value.EnumerateArray().Select(e => e.GetString() ?? "")];
}
