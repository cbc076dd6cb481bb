using System.CommandLine;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;

namespace Hfdl.Cli;

/// <summary><c>hfdl cache rm</c> and <c>hfdl cache prune</c>: parsing and rendering; the work is <see cref="CacheCleaner"/>'s.</summary>
internal static partial class CacheCommand
{
    private static Command BuildRemove(CliContext context)
    {
        var targets = new Argument<string[]>("TARGETS")
        {
            Description = "Repos (org/name, a Hub URL, or hf's cache id such as model/org/name or dataset/org/name) or full commit ids of cached revisions.",
            Arity = ArgumentArity.OneOrMore,
        };
        var repoType = RepoOptions.RepoTypeOption();
        var revision = new Option<string?>("--revision")
        {
            Description = "Only the snapshot this branch, tag or commit id points at (one REPO only); its refs go with it. Default: the whole repo.",
            HelpName = "REV",
        };
        var (cacheDir, dryRun, yes) = CleanOptions();
        var command = new Command("rm",
            "Remove cached repos or revisions, as `hf cache rm` does: a revision's snapshot and the refs pointing at it go, and the blobs no other snapshot links; " +
            "a repo whose every revision goes is removed whole. Asks before deleting unless -y is given.");
        command.Arguments.Add(targets);
        command.Options.Add(repoType);
        command.Options.Add(revision);
        command.Options.Add(cacheDir);
        command.Options.Add(dryRun);
        command.Options.Add(yes);
        HelpWriter.Examples(command,
            "hfdl cache rm org/model --dry-run                  what removing the repo would free",
            "hfdl cache rm org/model --revision v1 -y           one revision, without asking",
            "hfdl cache rm model/org/a dataset/org/b            hf's cache ids",
            "hfdl cache rm 0123456789abcdef0123456789abcdef01234567");
        command.SetAction(result =>
        {
            var root = Root(result, cacheDir, context);
            var texts = result.GetValue(targets) ?? [];
            var rev = result.GetValue(revision);
            if (rev is not null && texts.Length != 1)
            {
                throw new UsageException("--revision picks a revision of one repo; give exactly one REPO with it.");
            }
            var endpoint = HubConnectionOptions.EndpointOrNull(null, context.Environment);
            var parsed = texts.Select(t => ParseTarget(t, result.GetValue(repoType), rev, root, endpoint)).ToList();
            return Clean(context, CacheCleaner.PlanRemove(root, parsed), result.GetValue(dryRun), result.GetValue(yes), "Nothing to delete.");
        });
        return command;
    }

    private static Command BuildPrune(CliContext context)
    {
        var (cacheDir, dryRun, yes) = CleanOptions();
        var command = new Command("prune",
            "Remove detached revisions (snapshots no ref points at), as `hf cache prune` does, and blobs no snapshot links. " +
            "A repo whose every revision is detached is removed whole. Asks before deleting unless -y is given.");
        command.Options.Add(cacheDir);
        command.Options.Add(dryRun);
        command.Options.Add(yes);
        HelpWriter.Examples(command,
            "hfdl cache prune --dry-run                         what would go, and the space it would free",
            "hfdl cache prune -y                                without asking");
        command.SetAction(result =>
        {
            var root = Root(result, cacheDir, context);
            return Clean(context, CacheCleaner.PlanPrune(root), result.GetValue(dryRun), result.GetValue(yes),
                $"No detached revisions or unreferenced blobs in {root}: nothing to prune.");
        });
        return command;
    }

    private static (Option<string?> CacheDir, Option<bool> DryRun, Option<bool> Yes) CleanOptions() =>
        (CacheDirOption(),
         new Option<bool>("--dry-run") { Description = "List what would be removed and the space it would free; delete nothing." },
         new Option<bool>("--yes", "-y") { Description = "Delete without asking (needed when standard input is not a terminal)." });

    /// <summary>
    /// A commit id (anywhere in the cache), hf's cache id (<c>model/org/name</c>, or <c>model/name</c> when such a
    /// repo is cached: it could also be the repo <c>name</c> of the user <c>model</c>), or a repo as
    /// <c>hfdl download</c> reads it.
    /// </summary>
    private static CacheTarget ParseTarget(string text, string? typeText, string? revision, string root, Uri? endpoint)
    {
        if (typeText is null && revision is null && RepoDownloader.IsCommit(text.ToLowerInvariant()))
        {
            return new CommitTarget(text);
        }
        if (TryParseCacheId(text, typeText, root, out var cachedType, out var cachedId))
        {
            return new RepoTarget(cachedType, cachedId, revision);
        }
        if (revision is null && ListedOnly(text, typeText, root) is { } listed)
        {
            return listed;
        }
        var (type, id, rev) = RepoOptions.Resolve(text, typeText, revision, endpoint);
        return new RepoTarget(type, id, rev);
    }

    /// <summary>
    /// hf's cache id of a repo: <c>model/org/name</c>, <c>dataset/org/name</c>, or <c>model/name</c> when such a repo is
    /// cached (it could also be the repo <c>name</c> of the user <c>model</c>). Not with --repo-type, which says the type.
    /// </summary>
    private static bool TryParseCacheId(string text, string? typeText, string root, out RepoType type, out RepoId id)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        type = RepoType.Model;
        id = default;
        return typeText is null && slash > 0 && text[..slash] is "model" or "dataset" or "space"
            && RepoTypes.TryParse(text[..slash], out type) && RepoId.TryParse(text[(slash + 1)..], out id, out _)
            && (text.IndexOf('/', slash + 1) > 0 || Directory.Exists(Path.Combine(root, HfCacheLayout.FolderName(type, id))));
    }

    /// <summary>
    /// A repo <c>cache ls</c> lists under a name that is no valid repo id (a folder such as <c>models--a--b--c</c>,
    /// written by another tool): named as listed (<c>a/b/c</c>, or hf's cache id <c>model/a/b/c</c>), it is removed
    /// whole, as <c>hf cache rm</c> can. Only names of folders the cache holds are taken.
    /// </summary>
    private static ListedRepoTarget? ListedOnly(string text, string? typeText, string root)
    {
        var candidates = new List<(RepoType Type, string Id)>();
        if (typeText is not null)
        {
            if (RepoTypes.TryParse(typeText, out var given))
            {
                candidates.Add((given, text));
            }
        }
        else
        {
            var slash = text.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && text[..slash] is "model" or "dataset" or "space" && RepoTypes.TryParse(text[..slash], out var prefixed))
            {
                candidates.Add((prefixed, text[(slash + 1)..]));
            }
            candidates.Add((RepoType.Model, text));
        }
        foreach (var (type, id) in candidates)
        {
            if (!RepoId.TryParse(id, out _, out _) && CacheCleaner.IsListed(root, type, id))
            {
                return new ListedRepoTarget(type, id);
            }
        }
        return null;
    }

    /// <summary>Shows the plan, asks (unless told not to), carries it out and reports the space freed.</summary>
    private static int Clean(CliContext context, CacheCleanup plan, bool dryRun, bool yes, string nothing)
    {
        foreach (var missing in plan.NotFound)
        {
            context.Error.WriteLine($"error: not in the cache at {plan.CacheRoot}: {SafeText.Printable(missing)}{OtherTypeHint(plan.CacheRoot, missing)}");
        }
        // Like rm: the targets that are there are removed, and a target that is not makes the exit code 1.
        var found = plan.NotFound.Count == 0 ? HfdlCommand.ExitOk : HfdlCommand.ExitFailure;
        if (plan.Repos.Count == 0)
        {
            context.Error.WriteLine(nothing);
            return found;
        }
        WriteRemovals(context, plan);
        if (dryRun)
        {
            context.Error.WriteLine($"Dry run: {Counts(plan)} would be deleted, freeing {Units.Bytes(plan.Bytes)}; nothing was deleted.");
            // The same exit code as the run would have: a repo it would leave alone makes it 1.
            return plan.Repos.Any(r => r.LeftAlone is not null) ? HfdlCommand.ExitFailure : found;
        }
        if (!yes)
        {
            if (context.Prompt is not { } prompt)
            {
                throw new UsageException("Nothing was deleted: standard input is not a terminal, so hfdl cannot ask for confirmation. Add -y (--yes) to delete what is listed above, or --dry-run to only list it.");
            }
            if (prompt($"Delete {Counts(plan)}, freeing {Units.Bytes(plan.Bytes)}? [y/N] ")?.Trim().ToLowerInvariant() is not ("y" or "yes"))
            {
                context.Error.WriteLine("Cancelled; nothing was deleted.");
                return HfdlCommand.ExitOk;
            }
        }
        var done = CacheCleaner.Execute(plan);
        context.Error.WriteLine($"Deleted {Counts(done)}; freed {Units.Bytes(done.Bytes)}.");
        var leftAlone = done.Repos.Where(r => r.LeftAlone is not null).ToList();
        foreach (var repo in leftAlone)
        {
            var then = repo.InUse ? " Run the same command again once that download has ended." : "";
            context.Error.WriteLine($"error: {SafeText.Printable(repo.CacheId)} was left alone: {repo.LeftAlone}.{then}");
        }
        return leftAlone.Count == 0 ? found : HfdlCommand.ExitFailure;
    }

    /// <summary>
    /// For a repo not found (<c>model/org/name</c>, maybe <c>... at REV</c>) that the cache holds under another type
    /// (the type forgotten): how to name that one. Empty otherwise.
    /// </summary>
    private static string OtherTypeHint(string root, string missing)
    {
        var name = missing.Split(" at ", 2)[0];
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !RepoTypes.TryParse(name[..slash], out var type) || OtherTypes(root, type, name[(slash + 1)..]) is not [var other, ..])
        {
            return "";
        }
        var id = SafeText.Printable(name[(slash + 1)..]);
        return $" (it holds {other.Name()}/{id}: give that, or add --repo-type {other.Name()})";
    }

    /// <summary>One line per repo on stdout (what goes, and the space it frees), then one per revision with its refs.</summary>
    private static void WriteRemovals(CliContext context, CacheCleanup plan)
    {
        foreach (var repo in plan.Repos)
        {
            if (repo.LeftAlone is not null)
            {
                // Nothing of it goes: no revision is listed as going (the note below says why).
                context.Out.WriteLine($"{SafeText.Printable(repo.CacheId)}  left alone");
            }
            else
            {
                var what = repo.WholeRepo ? "entire repo" : Counts([repo], countRepos: false);
                context.Out.WriteLine($"{SafeText.Printable(repo.CacheId)}  {what}  {Units.Bytes(repo.Bytes)}");
            }
            foreach (var revision in repo.LeftAlone is null ? repo.Revisions : [])
            {
                var refs = revision.Refs.Count == 0 ? "(detached)" : string.Join(' ', revision.Refs.Select(SafeText.Printable));
                context.Out.WriteLine($"    {SafeText.Printable(revision.Commit)}  {refs}");
            }
            if (repo.LeftAlone is { } why)
            {
                context.Error.WriteLine($"note: {SafeText.Printable(repo.CacheId)} is left alone: {why}.");
            }
        }
    }

    private static string Counts(CacheCleanup cleanup) => Counts(cleanup.Repos.Where(r => r.LeftAlone is null).ToList(), countRepos: true);

    private static string Counts(IReadOnlyList<CacheRepoRemoval> repos, bool countRepos)
    {
        var whole = repos.Count(r => r.WholeRepo);
        var revisions = repos.Where(r => !r.WholeRepo).Sum(r => r.Revisions.Count);
        var blobs = repos.Where(r => !r.WholeRepo).Sum(r => r.Blobs);
        var parts = new List<string>();
        if (countRepos && whole > 0)
        {
            parts.Add(Plural(whole, "repo"));
        }
        if (revisions > 0)
        {
            parts.Add(Plural(revisions, "revision"));
        }
        if (blobs > 0)
        {
            parts.Add(Plural(blobs, "blob"));
        }
        return parts.Count == 0 ? "nothing" : string.Join(" and ", parts);
    }

    private static string Plural(int count, string noun) => $"{count} {noun}{(count == 1 ? "" : "s")}";
}
