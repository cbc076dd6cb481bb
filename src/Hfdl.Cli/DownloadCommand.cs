using System.CommandLine;
using Hfdl.Cli.Output;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;

namespace Hfdl.Cli;

internal static class DownloadCommand
{
    /// <summary>The largest MB option: 10^12 MB (an exabyte) is beyond any disk, and its bytes still fit a long.</summary>
    private const double LargestMegabytes = 1e12;

    /// <summary>The longest interval in seconds an option takes.</summary>
    internal const double SecondsInAYear = 365 * 86_400;

    public static Command Build(CliContext context)
    {
        var repo = new Argument<string>("REPO")
        {
            Description = "Repo id (org/name or a legacy id such as gpt2), a Hub URL, or hf://[datasets/|spaces/]org/name.",
        };
        var files = new Argument<string[]>("FILES")
        {
            Description = "Only these files; a trailing / selects a folder (default: the whole repo).",
            Arity = ArgumentArity.ZeroOrMore,
        }.NoEmptyName();
        var repoType = RepoOptions.RepoTypeOption();
        var revision = RepoOptions.RevisionOption();
        var threads = new Option<int?>("--threads", "-t", "--max-workers")
        {
            Description = $"Parallel transfers: the most requests in flight at once, small files and big-file segments together (default: {DownloadOptions.DefaultThreads(Environment.ProcessorCount)} on this machine: 64 per core, one core reserved, 32 to 128). " +
                "--max-workers is hf download's name: there the number of files fetched at once (default 8), one connection each, so it sets the same bound on connections here; leave it out to get hfdl's higher default.",
            HelpName = "N",
        }.Within(1, 256, "a whole number of transfers from 1 to 256");
        var directory = new Option<string>("--directory", "-d")
        {
            Description = "Base folder: models go to DIR/org/name, datasets to DIR/datasets/org/name, spaces to DIR/spaces/org/name.",
            DefaultValueFactory = _ => "downloads",
            HelpName = "DIR",
        }.Folder();
        var localDir = new Option<string?>("--local-dir")
        {
            Description = "Put the repo's files exactly in this folder (instead of under --directory).",
            HelpName = "DIR",
        }.Folder();
        var threshold = new Option<double>("--file-size-threshold")
        {
            Description = "Files of at least this many MB (10^6 bytes) are big: fetched in segments over several connections, alongside the small files.",
            DefaultValueFactory = _ => 200,
            HelpName = "MB",
        }.Within(0, LargestMegabytes, "a number of MB from 0 to 10^12");
        var chunkSize = new Option<long>("--chunk-size")
        {
            Description = "Preferred segment size of big files, in bytes; smaller when needed to keep every connection busy.",
            DefaultValueFactory = _ => 32L * 1024 * 1024,
            HelpName = "BYTES",
        }.Within(64 * 1024, FileSizes.MaxFileSize, "a whole number of bytes from 65536 (64 KiB) to 2^50 (1 PiB)");
        var minSpeed = new Option<double>("--min-speed-per-thread")
        {
            Description = "A big-file connection must carry at least this many MB/s, or connections are shed.",
            DefaultValueFactory = _ => 3,
            HelpName = "MB/s",
        }.Within(0, 1e6, "a number of MB/s from 0 to 10^6");
        var speedTest = new Option<double>("--speed-test-duration")
        {
            Description = "Longest single-connection speed test on the first big file, in seconds (ends early once the rate is stable).",
            DefaultValueFactory = _ => 5,
            HelpName = "SECONDS",
        }.Within(0, 86_400, "a number of seconds from 0 to 86400 (a day)");
        var maxSpeed = new Option<double?>("--max-speed")
        {
            Description = "Cap on the total download rate in MB/s, shared by all connections and files (default: no cap; at least 0.001, 1 kB/s).",
            HelpName = "MB/s",
        }.Within(DownloadOptions.SlowestSpeedCap / Units.MB, 1e9, "a number of MB/s from 0.001 (1 kB/s: a slower cap would stall every connection) to 10^9");
        var noXet = new Option<bool>("--no-xet")
        {
            Description = "Fetch Xet-backed files over plain HTTPS instead of native Xet (also HF_HUB_DISABLE_XET=1).",
        };
        var xetCacheSize = new Option<double>("--xet-cache-size")
        {
            Description = "Most MB the Xet chunk cache keeps (HF_XET_CACHE, else $HF_HOME/xet); least recently used chunks go first; 0 turns it off.",
            DefaultValueFactory = _ => DownloadOptions.DefaultXetCacheSize / Units.MB,
            HelpName = "MB",
        }.Within(0, LargestMegabytes, "a number of MB from 0 (no cache) to 10^12");
        var verify = new Option<bool>("--verify")
        {
            Description = "Check every local file against the Hub's sizes and hashes and report each as ok, corrupt, missing or extra; exit 1 if any is not ok. Downloads nothing unless --fix-broken is given too.",
        };
        var fixBroken = new Option<bool>("--fix-broken")
        {
            Description = "Hash every local file and download again exactly the corrupt and missing ones.",
        };
        var force = new Option<bool>("--force", "--force-download")
        {
            Description = "Ignore local files and the journal and download everything again (old copies stay until each new one is verified). --force-download is hf download's name for it.",
        };
        var resumeDownload = new Option<bool>("--resume-download")
        {
            Description = "Accepted for huggingface-cli scripts, where it asked to resume: hfdl always resumes interrupted downloads, with or without it.",
        };
        var minFreeSpace = new Option<double>("--min-free-space")
        {
            Description = "MB that must stay free on the target disk after the download; hfdl refuses to start otherwise.",
            DefaultValueFactory = _ => 0,
            HelpName = "MB",
        }.Within(0, LargestMegabytes, "a number of MB from 0 to 10^12");
        var urlRefresh = new Option<double>("--url-refresh-interval")
        {
            Description = "Seconds after which the signed download URL of a big file is resolved again, before it expires.",
            DefaultValueFactory = _ => 1200,
            HelpName = "SECONDS",
        }.Within(1, SecondsInAYear, "a number of seconds from 1 to 31536000 (a year)");
        var hfCache = new Option<bool>("--hf-cache")
        {
            Description = "Write the Hugging Face cache that transformers reads (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) instead of a plain folder.",
        };
        var cacheDir = new Option<string?>("--cache-dir")
        {
            Description = "Write the Hugging Face cache layout under this folder (implies --hf-cache).",
            HelpName = "DIR",
        }.Folder();
        var offline = new Option<bool>("--offline")
        {
            Description = "Make no network call: report what is on disk for the revision and whether it is complete (also HF_HUB_OFFLINE=1).",
        };
        var quiet = new Option<bool>("--quiet", "-q")
        {
            Description = "Print only errors and, at the end, the download folder.",
        };
        var verbose = new Option<bool>("--verbose", "-v")
        {
            Description = "Also print connection counts and speeds of big files, and every retry.",
        };
        var include = FilterOptions.IncludeOption();
        var exclude = FilterOptions.ExcludeOption();
        var dryRun = new Option<bool>("--dry-run")
        {
            Description = "Show the plan (every file, its size, small or big, present or to download) and the totals; download and write nothing.",
        };
        var format = new Option<string?>("--format")
        {
            Description = "hf's output switch: auto or human (hfdl's usual output) or quiet (the same as --quiet). json and agent are refused: hfdl's machine-readable output is --json, events in a schema of its own.",
            HelpName = "FORMAT",
        };
        format.AcceptOnlyFromAmong("auto", "human", "quiet", "json", "agent");
        // json and agent are accepted only to be refused with a pointer to --json: completion offers what works.
        format.CompletionSources.Clear();
        format.CompletionSources.Add("auto", "human", "quiet");
        format.Validators.Add(result =>
        {
            // The word as typed: GetValueOrDefault would throw for a word AcceptOnlyFromAmong already refused.
            if (result.Tokens.Count > 0 && result.Tokens[^1].Value is "json" or "agent")
            {
                result.AddError($"--format {result.Tokens[^1].Value} is hf's; hfdl has no such output. Use --json for newline-delimited JSON events (the summary event names the folder), or -q for just the folder on stdout.");
            }
        });
        var localDirUseSymlinks = new Option<string?>("--local-dir-use-symlinks")
        {
            Hidden = true,
            Validators =
            {
                result =>
                {
                    if (!result.Implicit)
                    {
                        result.AddError("--local-dir-use-symlinks is a huggingface-cli option that huggingface_hub ignores since 0.23; hfdl has no such mode either: --local-dir always holds real files. Leave it out, or use --hf-cache for the cache's symlinked layout.");
                    }
                },
            },
        };
        var json = OutputOptions.JsonOption("Write newline-delimited JSON events to stdout (plan, file_started, progress, file_done, file_skipped, verified, retry, request_retry, warning, waiting_for_lock, error, summary; the README lists their fields); messages for people still go to stderr.");
        var connection = new HubConnectionOptions();

        var command = new Command("download", "Download a repo, or some of its files, verified against the Hub's hashes. `hfdl REPO` is short for `hfdl download REPO`.");
        command.Arguments.Add(repo);
        command.Arguments.Add(files);
        command.Options.Add(repoType);
        command.Options.Add(revision);
        command.Options.Add(threads);
        command.Options.Add(directory);
        command.Options.Add(localDir);
        command.Options.Add(threshold);
        command.Options.Add(chunkSize);
        command.Options.Add(minSpeed);
        command.Options.Add(speedTest);
        command.Options.Add(maxSpeed);
        command.Options.Add(verify);
        command.Options.Add(fixBroken);
        command.Options.Add(force);
        command.Options.Add(resumeDownload);
        command.Options.Add(minFreeSpace);
        command.Options.Add(urlRefresh);
        command.Options.Add(noXet);
        command.Options.Add(xetCacheSize);
        command.Options.Add(hfCache);
        command.Options.Add(cacheDir);
        command.Options.Add(offline);
        command.Options.Add(quiet);
        command.Options.Add(verbose);
        command.Options.Add(include);
        command.Options.Add(exclude);
        command.Options.Add(dryRun);
        command.Options.Add(json);
        command.Options.Add(format);
        command.Options.Add(localDirUseSymlinks);
        connection.AddTo(command);

        foreach (var (option, group) in new (Option, string)[]
        {
            (repoType, "What to download"), (revision, "What to download"), (include, "What to download"), (exclude, "What to download"),
            (directory, "Where"), (localDir, "Where"), (hfCache, "Where"), (cacheDir, "Where"), (minFreeSpace, "Where"),
            (threads, "Speed"), (threshold, "Speed"), (chunkSize, "Speed"), (minSpeed, "Speed"), (speedTest, "Speed"), (maxSpeed, "Speed"), (urlRefresh, "Speed"), (noXet, "Speed"), (xetCacheSize, "Speed"),
            (verify, "Verify and repair"), (fixBroken, "Verify and repair"), (force, "Verify and repair"), (resumeDownload, "Verify and repair"), (offline, "Verify and repair"),
            (dryRun, "Output"), (json, "Output"), (quiet, "Output"), (format, "Output"), (verbose, "Output"),
        })
        {
            option.Group(group);
        }
        connection.Group("Hub");
        HelpWriter.Examples(command,
            "hfdl download openai-community/gpt2                    the whole repo into ./downloads/openai-community/gpt2",
            "hfdl download org/model config.json onnx/              one file and one folder",
            "hfdl download org/model --include '*.json' --exclude 'onnx/'",
            "hfdl download org/model --dry-run                      what would be downloaded, and how much",
            "hfdl download org/model --json | jq -c 'select(.event==\"summary\")'",
            "dir=$(hfdl download org/model -q) && ls \"$dir\"         the folder on stdout, for scripts");

        command.SetAction(async (result, cancellationToken) =>
        {
            var endpoint = HubConnectionOptions.EndpointOrNull(result.GetValue(connection.Endpoint), context.Environment);
            var (type, id, rev) = RepoOptions.Resolve(result.GetValue(repo)!, result.GetValue(repoType), result.GetValue(revision), endpoint);
            // Every number was checked while parsing (NumberOptions): in range and finite, so these conversions hold.
            var options = new DownloadOptions
            {
                BigFileThreshold = (long)(result.GetValue(threshold) * Units.MB),
                ChunkSize = result.GetValue(chunkSize),
                MinSpeedPerConnection = result.GetValue(minSpeed) * Units.MB,
                SpeedTestDuration = TimeSpan.FromSeconds(result.GetValue(speedTest)),
                MaxBytesPerSecond = result.GetValue(maxSpeed) is { } cap ? cap * Units.MB : null,
                MinFreeSpace = (long)(result.GetValue(minFreeSpace) * Units.MB),
                UrlRefreshInterval = TimeSpan.FromSeconds(result.GetValue(urlRefresh)),
                UseXet = !result.GetValue(noXet) && !context.Environment.DisableXet,
                XetCacheFolder = context.Environment.XetCache,
                XetCacheChosenBy = (context.Environment.XetCache, context.Environment.XetCacheSetting),
                XetCacheSize = (long)(result.GetValue(xetCacheSize) * Units.MB),
            };
            if (result.GetValue(force) && (result.GetValue(fixBroken) || result.GetValue(verify)))
            {
                throw new UsageException("--force downloads everything again; it cannot be combined with --verify or --fix-broken.");
            }
            if (result.GetValue(threads) is { } t)
            {
                options = options with { Threads = t };
            }
            var useCache = result.GetValue(hfCache) || result.GetValue(cacheDir) is not null;
            if (useCache && result.GetValue(localDir) is not null)
            {
                throw new UsageException("--local-dir and --hf-cache/--cache-dir choose different layouts; give one of them.");
            }
            if (useCache && result.GetResult(directory) is { Implicit: false } directoryGiven)
            {
                // -d has a default, so it must be told apart from one the user gave: the cache has its own place and
                // would silently leave DIR empty.
                var written = directoryGiven.IdentifierToken?.Value ?? "--directory";
                throw new UsageException($"{written} and --hf-cache/--cache-dir choose different layouts; give one of them: --cache-dir DIR writes the Hugging Face cache in DIR.");
            }
            if (result.GetValue(localDir) is not null && result.GetResult(directory) is { Implicit: false } baseGiven)
            {
                // --local-dir won and -d was silently ignored (QA: helper-49): two places for one download is a mistake to point out.
                var written = baseGiven.IdentifierToken?.Value ?? "--directory";
                throw new UsageException($"{written} and --local-dir choose different places; give one of them: --local-dir DIR puts the files exactly in DIR, {written} DIR under DIR/org/name.");
            }
            var target = useCache
                ? Path.GetFullPath(context.Environment.ExpandPath(result.GetValue(cacheDir)) ?? context.Environment.HubCache)
                : result.GetValue(localDir) is { } local
                    ? Path.GetFullPath(local)
                    : RepoLayout.RepoFolder(result.GetValue(directory)!, type, id);
            // Before the Hub is asked: a file where the folder should be fails with a sentence naming the setting,
            // not with the file system's "Could not find a part of the path" after the listing.
            PathSetting.RefuseFileInTheWay(target,
                useCache ? result.GetValue(cacheDir) is { } given ? new PathSetting("--cache-dir", context.Environment.ExpandPath(given)!) : context.Environment.HubCacheSetting
                : result.GetValue(localDir) is { } chosen ? new PathSetting("--local-dir", chosen)
                : new PathSetting("--directory", result.GetValue(directory)!),
                useCache ? "the Hugging Face cache" : "the downloaded files");

            await using var output = DownloadOutput.Create(context, result.GetValue(json), result.GetValue(quiet) || result.GetValue(format) == "quiet", result.GetValue(verbose));
            using var client = new HubClient(connection.Resolve(result, context.Environment, output.Progress));
            var downloader = new RepoDownloader(client, options);
            var request = new DownloadRequest
            {
                RepoType = type,
                RepoId = id,
                Revision = rev,
                Files = RepoOptions.Selection(result.GetValue(repo)!, endpoint, result.GetValue(files) ?? [], (result.GetValue(include) ?? []).Length + (result.GetValue(exclude) ?? []).Length > 0),
                Include = result.GetValue(include) ?? [],
                Exclude = result.GetValue(exclude) ?? [],
                TargetFolder = target,
                Existing = result.GetValue(force) ? ExistingFiles.Ignore
                    : result.GetValue(fixBroken) ? ExistingFiles.Rehash
                    : ExistingFiles.TrustJournal,
                Layout = useCache ? LayoutKind.HfCache : LayoutKind.Folder,
                DisableSymlinks = context.Environment.DisableSymlinks,
                Offline = result.GetValue(offline) || context.Environment.Offline,
            };
            if (request.Offline && result.GetValue(fixBroken))
            {
                throw new UsageException("--fix-broken downloads what is broken, which needs the network; run it without --offline / HF_HUB_OFFLINE (--verify alone works offline, against the listing cached by the last download).");
            }
            if (request.Offline && result.GetValue(force))
            {
                // As huggingface_hub: "Cannot pass 'force_download=True' when offline mode is enabled."
                throw new UsageException("--force downloads everything again, which needs the network; run it without --offline / HF_HUB_OFFLINE.");
            }
            if (request.Offline && !result.GetValue(verify) && !result.GetValue(dryRun) && !output.IsJson)
            {
                return ReportOffline(await downloader.CheckLocalAsync(request, cancellationToken).ConfigureAwait(false), type, id, rev ?? "main", target, context,
                    quiet: result.GetValue(quiet) || result.GetValue(format) == "quiet");
            }
            // With --json, offline goes on as a download: the engine answers it from the local records with the events
            // of any run (plan, a file_skipped per present file, an error per missing one, summary or a fatal error).
            if (result.GetValue(verify))
            {
                var report = await downloader.VerifyAsync(request, output.CheckProgress, cancellationToken).ConfigureAwait(false);
                var exitCode = output.FinishVerify(report, repairFollows: result.GetValue(fixBroken), request.Offline);
                if (!result.GetValue(fixBroken))
                {
                    return exitCode;
                }
                // The repair trusts what was just hashed while it stays unchanged: it fetches the corrupt and missing
                // files without hashing every file a second time.
                request = request with { HashedBefore = report.Hashed };
            }
            if (result.GetValue(dryRun))
            {
                return output.WritePlan(await downloader.PlanWithListingProgressAsync(request, output.CheckProgress, cancellationToken).ConfigureAwait(false), request.Offline);
            }
            output.Start();
            var summary = await downloader.DownloadAsync(request, output.Progress, cancellationToken).ConfigureAwait(false);
            return await output.FinishAsync(summary).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Offline: says what is on disk for the revision; exit 0 only when it is complete.</summary>
    private static int ReportOffline(LocalReport? report, RepoType type, RepoId id, string revision, string target, CliContext context, bool quiet)
    {
        if (report is null)
        {
            // The words of the engine's offline refusal (OfflineIncompleteException), with the folder that was looked in.
            context.Error.WriteLine($"error: Offline, and nothing in {target} records {type.Name()} '{id}' at '{revision}' (no journal or ref names a commit for it). Download it once with the network first.");
            return HfdlCommand.ExitFailure;
        }
        if (report.WithoutListing && !quiet)
        {
            context.Error.WriteLine($"warning: {RepoDownloader.HeldFilesWarning(report.Commit)}");
        }
        var complete = report.WithoutListing ? "; nothing else is known to be missing, and they were not hashed (`hfdl cache verify` hashes them)." : "; complete.";
        if (!quiet || !report.IsComplete)
        {
            // -q prints only errors: a complete local copy has nothing to say but its folder.
            context.Error.WriteLine($"Offline: {type.Name()} {id} at {revision} = commit {report.Commit}: {report.Present.Count} of {report.Present.Count + report.Missing.Count} files present{(report.IsComplete ? complete : ".")}");
        }
        foreach (var missing in report.Missing)
        {
            context.Error.WriteLine(report.Corrupt.Contains(missing) ? $"corrupt  {missing} (does not match the cached listing's size or hash)" : $"missing  {missing}");
        }
        if (!report.IsComplete)
        {
            context.Error.WriteLine(report.Corrupt.Count > 0
                ? "error: The local copy is incomplete or damaged; run the same command without --offline / HF_HUB_OFFLINE to download the missing and corrupt files again."
                : "error: The local copy is incomplete; run the same command without --offline / HF_HUB_OFFLINE to download the missing files.");
            return HfdlCommand.ExitFailure;
        }
        DownloadOutput.WriteFolder(context, report.Folder);
        return HfdlCommand.ExitOk;
    }
}
