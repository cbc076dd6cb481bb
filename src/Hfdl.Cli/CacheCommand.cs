using System.CommandLine;
using System.Globalization;
using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;

namespace Hfdl.Cli;

/// <summary><c>hfdl cache ls</c> and <c>hfdl cache verify</c>: the Hugging Face cache, read without the network (rm and prune: CacheCommand.Clean.cs).</summary>
internal static partial class CacheCommand
{
    public static Command Build(CliContext context)
    {
        var command = new Command("cache", "Inspect and clean the Hugging Face cache (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).");
        command.Subcommands.Add(BuildList(context));
        command.Subcommands.Add(BuildVerify(context));
        command.Subcommands.Add(BuildRemove(context));
        command.Subcommands.Add(BuildPrune(context));
        return command;
    }

    private static Option<string?> CacheDirOption() => new Option<string?>("--cache-dir")
    {
        Description = "The cache root (default: HF_HUB_CACHE, else $HF_HOME/hub).",
        HelpName = "DIR",
    }.Folder();

    private static string Root(ParseResult result, Option<string?> option, CliContext context)
    {
        var given = context.Environment.ExpandPath(result.GetValue(option));
        var root = Path.GetFullPath(given ?? context.Environment.HubCache);
        PathSetting.RefuseFileInTheWay(root, given is null ? context.Environment.HubCacheSetting : new PathSetting("--cache-dir", given), "the Hugging Face cache");
        return root;
    }

    private static Command BuildList(CliContext context)
    {
        var cacheDir = CacheDirOption();
        var command = new Command("ls", "List the cached repos: revisions, files and size on disk (blobs shared by revisions counted once).");
        command.Options.Add(cacheDir);
        command.SetAction(result =>
        {
            var root = Root(result, cacheDir, context);
            if (result.GetValue(cacheDir) is not null && !Directory.Exists(root))
            {
                // A folder named on purpose that is not there is a typo, not an empty cache (hf cache ls errors too);
                // the default cache before any download is simply empty.
                throw new HfdlException($"There is no Hugging Face cache at {root}: the folder does not exist. Check --cache-dir, or leave it out for HF_HUB_CACHE (else $HF_HOME/hub).");
            }
            var repos = CacheScanner.Scan(root);
            context.Out.WriteLine($"{"REPO",-40} {"TYPE",-8} {"SIZE",10} {"BLOBS",6}  REVISIONS");
            foreach (var repo in repos)
            {
                var revisions = repo.Snapshots.Select(commit =>
                {
                    var names = repo.Refs.Where(r => r.Value == commit).Select(r => r.Key).Order(StringComparer.Ordinal).ToList();
                    var shortId = SafeText.Printable(commit[..Math.Min(8, commit.Length)]);
                    return names.Count > 0 ? $"{string.Join(",", names.Select(SafeText.Printable))} ({shortId})" : shortId;
                })
                // Refs that lead nowhere are shown, not dropped: they are why prune leaves a repo alone, or a broken download.
                .Concat(repo.Refs.Where(r => !repo.Snapshots.Contains(r.Value)).OrderBy(r => r.Key, StringComparer.Ordinal)
                    .Select(r => $"{SafeText.Printable(r.Key)} -> missing snapshot ({SafeText.Printable(r.Value[..Math.Min(8, r.Value.Length)])})"))
                .Concat(repo.BadRefs.Select(r => $"{SafeText.Printable(r)} (bad ref)"));
                // Names come from the disk: a folder name with a newline or an escape sequence is shown, not obeyed.
                context.Out.WriteLine($"{SafeText.Escape(repo.Id),-40} {repo.Type.Name(),-8} {Units.Bytes(repo.SizeOnDisk),10} {repo.BlobCount,6}  {string.Join("; ", revisions)}");
            }
            context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{repos.Count} repo{(repos.Count == 1 ? "" : "s")}, {Units.Bytes(repos.Sum(r => r.SizeOnDisk))} in {root}"));
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    private static Command BuildVerify(CliContext context)
    {
        var repo = new Argument<string>("REPO") { Description = "Repo id, Hub URL or hf:// URI." };
        var repoType = RepoOptions.RepoTypeOption();
        var revision = new Option<string?>("--revision")
        {
            Description = "Only this revision's snapshot (default: every snapshot of the repo).",
            HelpName = "REV",
        };
        var cacheDir = CacheDirOption();
        var command = new Command("verify", "Hash every file of a cached repo's snapshots and compare it with the hash its blob is named by. Exit 1 if any does not match or is missing, or if nothing could be checked.");
        command.Arguments.Add(repo);
        command.Options.Add(repoType);
        command.Options.Add(revision);
        command.Options.Add(cacheDir);
        command.SetAction(async (result, cancellationToken) =>
        {
            var root = Root(result, cacheDir, context);
            var text = result.GetValue(repo)!;
            // hf's cache id (dataset/org/name), as cache rm takes it, or a repo as download reads it.
            var (type, id, rev) = TryParseCacheId(text, result.GetValue(repoType), root, out var cachedType, out var cachedId)
                ? (cachedType, cachedId, result.GetValue(revision))
                : RepoOptions.Resolve(text, result.GetValue(repoType), result.GetValue(revision), HubConnectionOptions.EndpointOrNull(null, context.Environment));
            if (!Directory.Exists(Path.Combine(root, HfCacheLayout.FolderName(type, id))) && OtherTypes(root, type, id.Value) is [var other, ..])
            {
                // The type forgotten (a dataset named without --repo-type): "download it first" would be wrong advice.
                throw new HfdlException($"The cache at {root} holds no {type.Name()} '{id}', but holds {other.Name()} '{id}': add --repo-type {other.Name()} (or give hf's cache id {other.Name()}/{id}).");
            }
            var checks = await CacheScanner.VerifyAsync(root, type, id, rev, cancellationToken).ConfigureAwait(false);
            foreach (var check in checks.Where(c => c.Status != VerifyStatus.Ok))
            {
                context.Out.WriteLine($"{check.Status.ToString().ToLowerInvariant(),-8} {SafeText.Escape(check.Commit[..Math.Min(8, check.Commit.Length)])}/{SafeText.Escape(check.Path)}{(check.Detail is null ? "" : $" ({check.Detail})")}");
            }
            var bad = checks.Count(c => c.Status is VerifyStatus.Corrupt or VerifyStatus.Missing);
            var ok = checks.Count(c => c.Status == VerifyStatus.Ok);
            // Extra files were listed above but not checked: they are no part of the count of files verified.
            var extra = checks.Count(c => c.Status == VerifyStatus.Extra);
            if (ok + bad + extra == 0 && CacheScanner.ListingsAreEmpty(root, type, id, rev))
            {
                // An empty repo: its snapshot holds nothing because the repo has nothing, as its cached listing says.
                context.Error.WriteLine($"Nothing to verify: {type.Name()} {id} in {root} has no file (its cached listing names none, and its snapshot holds none).");
                return HfdlCommand.ExitOk;
            }
            if (ok + bad == 0)
            {
                // A check that could check nothing is no pass: the files are there, but nothing says what they should hold.
                context.Error.WriteLine(extra == 0
                    ? $"error: nothing was verified: the snapshots of {type.Name()} {id} in {root} hold no file."
                    : $"error: nothing was verified: none of the {Plural(extra, "file")} of {type.Name()} {id} in {root} could be checked, since no cached listing says what they should hold " +
                      $"(copies made without symlinks, and no trees/<commit>.json). {DownloadCommandFor(type, id, OneCommit(checks) ?? "REV", root, context)} --verify hashes them against the Hub and caches its listing.");
                return HfdlCommand.ExitFailure;
            }
            var notChecked = extra == 0 ? "" : $", {extra} extra (not checked)";
            context.Error.WriteLine($"Verified {Plural(ok + bad, "file")} of {type.Name()} {id} in {root}: {ok} ok, {bad} bad{notChecked}.");
            // --fix-broken hashes every file of the revision and downloads again exactly the corrupt and missing ones.
            var broken = checks.Where(c => c.Status is VerifyStatus.Corrupt or VerifyStatus.Missing).Select(c => c.Commit).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
            foreach (var commit in broken)
            {
                context.Error.WriteLine($"To repair {commit[..Math.Min(8, commit.Length)]}: {DownloadCommandFor(type, id, commit, root, context)} --verify --fix-broken");
            }
            return bad == 0 ? HfdlCommand.ExitOk : HfdlCommand.ExitFailure;
        });
        return command;
    }

    /// <summary>The types other than <paramref name="asked"/> under which the cache holds <paramref name="id"/>.</summary>
    private static List<RepoType> OtherTypes(string root, RepoType asked, string id) =>
        [.. Enum.GetValues<RepoType>().Where(t => t != asked && CacheCleaner.IsListed(root, t, id))];

    /// <summary>The commit every check is of, when there is one only.</summary>
    private static string? OneCommit(IEnumerable<CachedFileCheck> checks) =>
        checks.Select(c => c.Commit).Distinct(StringComparer.Ordinal).ToList() is [var only] ? only : null;

    /// <summary>The <c>hfdl download</c> command line that writes <paramref name="id"/> into this cache at <paramref name="revision"/>.</summary>
    private static string DownloadCommandFor(RepoType type, RepoId id, string revision, string root, CliContext context)
    {
        var typeFlag = type == RepoType.Model ? "" : $" --repo-type {type.Name()}";
        var cache = string.Equals(root, Path.GetFullPath(context.Environment.HubCache), StringComparison.Ordinal) ? " --hf-cache" : $" --cache-dir {Quoted(root)}";
        return $"hfdl download {id}{typeFlag}{cache} --revision {SafeText.Escape(revision)}";
    }

    /// <summary>A path as a shell takes it: quoted when it holds anything but plain characters.</summary>
    private static string Quoted(string path) =>
        path.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '-' or '_' or '~') ? path : $"'{path.Replace("'", "'\\''", StringComparison.Ordinal)}'";
}
