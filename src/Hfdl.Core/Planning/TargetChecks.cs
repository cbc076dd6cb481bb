using Hfdl.Core.Hub;

namespace Hfdl.Core.Planning;

/// <summary>
/// Checks the whole plan against the target folder before any byte is written: names that would land on the same file
/// (on a case-insensitive file system, or a file that is also a folder), and names that are hfdl's own files once case
/// is ignored. Sizes that cannot fit are refused by the downloader's disk-space check.
/// </summary>
internal static class TargetChecks
{
    /// <summary>
    /// Throws <see cref="UnsafePathException"/> when two names of the plan would be one file on disk. With
    /// <paramref name="probe"/> the target's file system is asked whether it tells case apart (a probe file is made and
    /// removed); without (a dry run writes nothing), the platform's usual answer is assumed.
    /// </summary>
    /// <param name="files">The selected files.</param>
    /// <param name="root">The folder whose file system is probed.</param>
    /// <param name="probe">Whether the probe may write (a dry run writes nothing).</param>
    /// <param name="folderLayout">A download folder (hfdl's journal and huggingface_hub's metadata live among the files), not the HF cache.</param>
    /// <param name="filesRoot">The folder the repo's paths are below (a snapshot in the HF cache); <paramref name="root"/> when null.</param>
    public static void Check(IReadOnlyList<RemoteFile> files, string root, bool probe = true, bool folderLayout = true, string? filesRoot = null)
    {
        var paths = files.Select(f => f.Path).ToList();
        CheckNames(paths, folderLayout, filesRoot ?? root);
        CheckCollisions(paths, () => probe ? IsCaseInsensitive(root) : !OperatingSystem.IsLinux(), folderLayout);
    }

    /// <summary>
    /// A folder of the plan that already holds another download's journal or lock: <c>-d downloads</c> puts the legacy
    /// repo <c>org1</c> in <c>downloads/org1</c>, around <c>downloads/org1/name1</c>, and writing the legacy repo's
    /// <c>name1/...</c> files would overwrite the other download's. Reads only (a dry run makes it too).
    /// </summary>
    public static void CheckForeignDownloads(IReadOnlyList<string> paths, string root)
    {
        // Each folder once, without a string per file and level (a repo of 400,000 files has a few hundred folders).
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lookup = seen.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var path in paths)
        {
            for (var slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
            {
                if (lookup.Contains(path.AsSpan(0, slash)))
                {
                    continue;
                }
                var folder = path[..slash];
                seen.Add(folder);
                var full = Path.Combine(root, folder);
                if (File.Exists(Path.Combine(full, Storage.DownloadState.FileName)) || File.Exists(Path.Combine(full, Storage.RepoFolderLock.FileName)))
                {
                    throw new UnsafePathException(path, $"its folder '{SafeText.Printable(folder)}/' holds another download (its {Storage.DownloadState.FileName} or {Storage.RepoFolderLock.FileName}), whose files this one would overwrite",
                        "download this repo into a folder of its own");
                }
            }
        }
    }

    /// <summary>
    /// The checks that need no look at the disk, made before a download creates anything: names hfdl keeps for itself
    /// in the layout, and paths longer than the system can open below <paramref name="filesRoot"/>.
    /// </summary>
    public static void CheckNames(IReadOnlyList<string> paths, bool folderLayout, string filesRoot)
    {
        foreach (var path in paths)
        {
            if (RepoFilePath.ReservedProblem(path, StringComparison.Ordinal, folderLayout) is { } own)
            {
                throw new UnsafePathException(path, own, ReservedNextStep(folderLayout));
            }
        }
        CheckPathLengths(paths, filesRoot);
    }

    /// <summary>
    /// The longest path Linux (4096 bytes) or macOS (1024) can open: a deeper file would be fetched in full and then fail
    /// its rename, on every run. Room is left for hfdl's temporary name beside it (at most 255 bytes per name anyway).
    /// </summary>
    internal static void CheckPathLengths(IReadOnlyList<string> paths, string root)
    {
        var max = OperatingSystem.IsLinux() ? 4095 : OperatingSystem.IsMacOS() ? 1023 : int.MaxValue;
        if (max == int.MaxValue)
        {
            return;
        }
        var rootBytes = System.Text.Encoding.UTF8.GetByteCount(Path.GetFullPath(root)) + 1;
        foreach (var path in paths)
        {
            // The temporary name can be longer than the final one by at most its suffix and random digits.
            var bytes = rootBytes + (path.Length * 3 + rootBytes <= max - 40 ? path.Length : System.Text.Encoding.UTF8.GetByteCount(path)) + 40;
            if (bytes > max)
            {
                throw new UnsafePathException(path, $"below {SafeText.Printable(root)} its path would take {bytes - 40:N0} bytes, more than the {max + 1:N0} this system can open",
                    "exclude it to download the rest, or download into a folder with a shorter path");
            }
        }
    }

    /// <summary>
    /// Two names that the file system would store as one: a case-only difference when <paramref name="caseInsensitive"/>
    /// says so (asked only when such a pair exists), or a name that is both a file and a folder; and names hfdl keeps for
    /// itself in the layout (<paramref name="folderLayout"/>: a download folder, or the HF cache).
    /// </summary>
    internal static void CheckCollisions(IReadOnlyList<string> paths, Func<bool> caseInsensitive, bool folderLayout = true)
    {
        var insensitive = new Lazy<bool>(caseInsensitive);
        foreach (var path in paths)
        {
            // '.Download_State' or '.Cache/HuggingFace/...' is hfdl's or huggingface_hub's own name where case is ignored.
            if (RepoFilePath.ReservedProblem(path, StringComparison.OrdinalIgnoreCase, folderLayout) is { } reserved && insensitive.Value)
            {
                throw new UnsafePathException(path, $"{reserved}, and the target folder's file system does not tell case apart", ReservedNextStep(folderLayout));
            }
        }
        // Each folder once, with one path below it: a repo of 400,000 files in 400 folders makes 400 folder strings,
        // not a substring per file and folder level.
        var folders = new Dictionary<string, string>(StringComparer.Ordinal);
        var folderLookup = folders.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var path in paths)
        {
            for (var slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
            {
                if (!folderLookup.ContainsKey(path.AsSpan(0, slash)))
                {
                    folders[path[..slash]] = path;
                }
            }
        }
        var hasCaseTwins = HasCaseTwins(paths, folders.Keys);
        var comparer = hasCaseTwins && insensitive.Value ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

        var files = new HashSet<string>(comparer);
        foreach (var path in paths)
        {
            if (!files.Add(path))
            {
                files.TryGetValue(path, out var other);
                throw new UnsafePathException(path, other == path
                    ? "the server listed it twice"
                    : $"it differs only by case from '{SafeText.Printable(other)}', and the target folder's file system does not tell case apart, so one would overwrite the other");
            }
        }
        foreach (var (folder, below) in folders)
        {
            if (files.TryGetValue(folder, out var file))
            {
                throw new UnsafePathException(file, $"it is a file, but '{SafeText.Printable(below)}' needs a folder of that name{(file == folder ? "" : " (the file system does not tell case apart)")}");
            }
        }
    }

    private static string ReservedNextStep(bool folderLayout) =>
        folderLayout
            ? "exclude it to download the rest, or download into the Hugging Face cache, which keeps hfdl's files apart from the repo's"
            : "exclude it to download the rest";

    /// <summary>True when two distinct names (files or folders) differ only by case.</summary>
    private static bool HasCaseTwins(IReadOnlyList<string> paths, IEnumerable<string> folders)
    {
        var exact = new HashSet<string>(StringComparer.Ordinal);
        var folded = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in paths.Concat(folders))
        {
            if (exact.Add(name) && !folded.Add(name))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Asks the file system itself: creates a probe file with a lower-case name in the target folder (or the nearest
    /// folder above it that exists) and checks whether the upper-cased name finds it. Without write access, assumes
    /// what the platform usually does (Windows and macOS ignore case, Linux does not).
    /// </summary>
    internal static bool IsCaseInsensitive(string root)
    {
        var folder = NearestExisting(root);
        if (folder is null)
        {
            return !OperatingSystem.IsLinux();
        }
        var name = $".hfdl-case-probe-{Guid.NewGuid():N}";
        var probe = Path.Combine(folder, name);
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
                return File.Exists(Path.Combine(folder, name.ToUpperInvariant()));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return !OperatingSystem.IsLinux();
        }
    }

    private static string? NearestExisting(string path)
    {
        for (var current = Path.GetFullPath(path); current is not null; current = Path.GetDirectoryName(current))
        {
            if (Directory.Exists(current))
            {
                return current;
            }
        }
        return null;
    }
}
