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
    public static void Check(IReadOnlyList<RemoteFile> files, string root, bool probe = true) =>
        CheckCollisions(files.Select(f => f.Path).ToList(), () => probe ? IsCaseInsensitive(root) : !OperatingSystem.IsLinux());

    /// <summary>
    /// Two names that the file system would store as one: a case-only difference when <paramref name="caseInsensitive"/>
    /// says so (asked only when such a pair exists), or a name that is both a file and a folder.
    /// </summary>
    internal static void CheckCollisions(IReadOnlyList<string> paths, Func<bool> caseInsensitive)
    {
        var insensitive = new Lazy<bool>(caseInsensitive);
        // '.Download_State' or '.Cache/HuggingFace/...' is hfdl's or huggingface_hub's own name where case is ignored.
        foreach (var path in paths)
        {
            if (RepoFilePath.ReservedProblem(path, StringComparison.OrdinalIgnoreCase) is { } reserved && insensitive.Value)
            {
                throw new UnsafePathException(path, $"{reserved}, and the target folder's file system does not tell case apart");
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
