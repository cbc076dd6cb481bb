using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;

namespace Hfdl.Cli;

/// <summary>A problem in how hfdl was invoked (a conflicting option, a bad value): exit code 2.</summary>
internal sealed class UsageException(string message) : HfdlException(message);

/// <summary>
/// Turns Core's errors into what the command says: the exit code, and the command-line words for what Core names in
/// its own terms (an option's property, the endpoint, the repo type, logging in), so Core's messages stay free of them.
/// </summary>
internal static class CliErrors
{
    private static readonly Dictionary<string, string> OptionFlags = new(StringComparer.Ordinal)
    {
        [nameof(DownloadOptions.Threads)] = "--threads",
        [nameof(DownloadOptions.BigFileThreshold)] = "--file-size-threshold",
        [nameof(DownloadOptions.ChunkSize)] = "--chunk-size",
        [nameof(DownloadOptions.MinSpeedPerConnection)] = "--min-speed-per-thread",
        [nameof(DownloadOptions.SpeedTestDuration)] = "--speed-test-duration",
        [nameof(DownloadOptions.MinFreeSpace)] = "--min-free-space",
        [nameof(DownloadOptions.UrlRefreshInterval)] = "--url-refresh-interval",
        [nameof(DownloadOptions.MaxBytesPerSecond)] = "--max-speed",
        [nameof(DownloadOptions.XetCacheSize)] = "--xet-cache-size",
        [PathFilter.IncludeOption] = "--include",
        [PathFilter.ExcludeOption] = "--exclude",
        [nameof(Hfdl.Hub.Mirror.MirrorOptions.Upstream)] = "--upstream",
        [nameof(Hfdl.Hub.Mirror.MirrorOptions.Store)] = "--store",
        [nameof(Hfdl.Hub.Mirror.MirrorOptions.BindAddress)] = "--urls",
        [nameof(Hfdl.Hub.Mirror.MirrorOptions.MaxSize)] = "--max-size",
        [nameof(Hfdl.Hub.Mirror.MirrorOptions.RevisionTtl)] = "--revision-ttl",
        [nameof(Hfdl.Hub.Mirror.MirrorOptions.AccessTtl)] = "--access-ttl",
    };

    /// <summary>The exit code of an error: 2 when the command line (or a setting) is wrong, 1 for everything else.</summary>
    public static int ExitCode(HfdlException error) => error switch
    {
        UsageException or InvalidRepoIdException or InvalidOptionException => HfdlCommand.ExitUsage,
        _ => HfdlCommand.ExitFailure,
    };

    /// <summary>The paragraph the command prints for an error: Core's sentence in the command's words, plus a hint (naming <paramref name="repo"/> as the user wrote it, when the command has one).</summary>
    /// <param name="implicitTokenWithheld">A token is saved but HF_HUB_DISABLE_IMPLICIT_TOKEN kept it from being sent.</param>
    public static string Describe(HfdlException error, string? repo = null, bool implicitTokenWithheld = false)
    {
        if (error is InvalidOptionException { Option: var option, Requirement: var requirement } && OptionFlags.TryGetValue(option, out var flag))
        {
            return $"{flag} {requirement}";
        }
        // Core says where a token or a pattern came from in its own words; on the command line that place has a name.
        var message = error.Message.Replace("the token given on the command line", "the token given with --token", StringComparison.Ordinal);
        // Core's advice in the command's words, said once.
        message = message.Replace(UnknownTokenNameException.Advice, "`hfdl auth list` shows the names; `hfdl login` adds a token.", StringComparison.Ordinal);
        message = message.Replace(FilePlanner.LeaveOutAdvice, "leave it out (--exclude, or name the files you want) to download the rest", StringComparison.Ordinal);
        if (error is EntryNotFoundException { IncludePatterns: var include, ExcludePatterns: var exclude } && include.Count + exclude.Count > 0)
        {
            var flags = string.Join(" ", include.Select(p => $"--include '{p}'").Concat(exclude.Select(p => $"--exclude '{p}'")));
            message = message.Replace(PathFilter.DescribePatterns(include, exclude), flags, StringComparison.Ordinal);
        }
        if (implicitTokenWithheld && error is RepositoryNotFoundException or GatedRepoException)
        {
            return $"{message.Replace(" " + HubErrorMapper.NoTokenHint, "", StringComparison.Ordinal)} A token is saved (or set in HF_TOKEN), but HF_HUB_DISABLE_IMPLICIT_TOKEN keeps hfdl from sending it: give it with --token, or unset HF_HUB_DISABLE_IMPLICIT_TOKEN.";
        }
        return Hint(error, repo is null ? "REPO" : SafeText.Printable(repo)) is { } hint ? $"{message} {hint}" : message;
    }

    /// <summary>
    /// A file-system error that reached the command without a message of hfdl's own: the system's words (which name the
    /// path), and what to do when the place cannot be written at all (a read-only file system, no permission).
    /// </summary>
    public static string DescribeFileSystem(Exception error)
    {
        var message = error.Message.TrimEnd().TrimEnd('.');
        var cannotWrite = error is UnauthorizedAccessException || (error is IOException && (error.HResult & 0xFFFF) is 30 or 13 or 1);
        return cannotWrite
            ? $"{message}: hfdl cannot write there. Choose a place it can write: -d or --local-dir for a folder, --cache-dir (or HF_HUB_CACHE, HF_HOME) for the Hugging Face cache, HF_XET_CACHE for the Xet chunk cache."
            : message + ".";
    }

    private static string? Hint(HfdlException error, string repo) => error switch
    {
        HubUnreachableException or HubProtocolException when error.Message.Contains("the endpoint", StringComparison.Ordinal) =>
            "(The endpoint is --endpoint, else HF_ENDPOINT.)",
        // A token was sent: the message names its account and what it lacks, so logging in is not the next step (a
        // pending access request was told to log in, with the token it had just sent) (QA: helper-49).
        RepositoryNotFoundException { TokenSent: true } => "Choose the type with --repo-type model|dataset|space.",
        RepositoryNotFoundException => "Choose the type with --repo-type model|dataset|space; log in with `hfdl login` for a private repo.",
        GatedRepoException { TokenSent: true } => null,
        // A token variable overrides any login: the message already says to fix or unset it.
        InvalidTokenException { RejectedTokenOrigin: TokenOrigin.HfTokenVariable or TokenOrigin.LegacyTokenVariable or TokenOrigin.CommandLine } => null,
        GatedRepoException or InvalidTokenException => "Log in with `hfdl login` (or set HF_TOKEN, or give --token).",
        EntryNotFoundException { Commit: not null } or EntryNotFoundException when error.Message.Contains("pattern", StringComparison.Ordinal) =>
            $"`hfdl ls {repo}` lists the names; --include and --exclude take the patterns.",
        EntryNotFoundException => $"`hfdl ls {repo}` lists the names.",
        InsufficientDiskSpaceException => "Choose another folder with -d or --local-dir; --min-free-space sets the space kept free.",
        _ => null,
    };
}
