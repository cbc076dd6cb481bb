namespace Hfdl.Core.Planning;

/// <summary>
/// Checks a file path that came from a server before it touches the disk: it must stay inside the target folder on
/// every operating system. Rejects <c>..</c> and <c>.</c> segments, empty segments, absolute paths, drive letters, UNC
/// paths, backslashes, NUL and control characters, names of more than 255 bytes, and on Windows the names Windows
/// cannot hold (reserved device names such as <c>CON</c>, <c>&lt;&gt;:"|?*</c>, a trailing dot or space). Names hfdl
/// or huggingface_hub keep for themselves (<see cref="ReservedProblem"/>) depend on the layout and are checked on the
/// selected files only (<see cref="TargetChecks"/>), so one such file does not make a whole repo unusable; so are the
/// names these rules refuse: a listing keeps them, marked (<see cref="RemoteFile.WriteProblem"/>), and the selection
/// refuses one only when it is among the files asked for (<see cref="FilePlanner.RefuseUnwritable"/>).
/// </summary>
internal static class RepoFilePath
{
    private const int MaxLength = 4096;
    private const int MaxSegmentBytes = 255;
    private const string TempSuffix = ".hfdl-part";
    private const string MetadataRoot = ".cache";
    private const string MetadataFolder = ".cache/huggingface";

    private static readonly HashSet<string> WindowsDeviceNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
        "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³",
        "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
    };

    public static bool TryValidate(string? path, out string? problem)
    {
        problem = Problem(path, OperatingSystem.IsWindows());
        return problem is null;
    }

    public static void Validate(string? path)
    {
        if (Problem(path, OperatingSystem.IsWindows()) is { } problem)
        {
            throw new Hub.UnsafePathException(path, problem);
        }
    }

    /// <summary>The rules of one system: <paramref name="windows"/> adds the names Windows cannot hold. For tests.</summary>
    internal static string? Problem(string? path, bool windows)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "the name is empty";
        }
        if (path.Length > MaxLength)
        {
            return "the name is too long";
        }
        foreach (var c in path)
        {
            if (c == '\0' || char.IsControl(c))
            {
                return "it contains a NUL or control character";
            }
            if (c == '\\')
            {
                return "it contains a backslash";
            }
        }
        if (path[0] == '/')
        {
            return "it is an absolute path";
        }
        if (path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':')
        {
            return "it starts with a drive letter";
        }
        var segments = path.Split('/');
        foreach (var segment in segments)
        {
            if (segment.Length == 0)
            {
                return "it has an empty folder name ('//' or a trailing '/')";
            }
            if (segment is "." or "..")
            {
                return $"it has a '{segment}' segment, which would leave the target folder";
            }
            if (segment.Length > MaxSegmentBytes / 3 && System.Text.Encoding.UTF8.GetByteCount(segment) > MaxSegmentBytes)
            {
                return "a part of it is longer than the 255 bytes a file or folder name may have";
            }
            if (windows && WindowsProblem(segment) is { } windowsProblem)
            {
                return windowsProblem;
            }
        }
        return null;
    }

    /// <summary>
    /// Why <paramref name="path"/> is a name hfdl or huggingface_hub keeps for itself, or null. In every layout: hfdl's
    /// temporary files (<c>*.hfdl-part</c>: one no journal refers to is deleted). In a download
    /// folder (<paramref name="folderLayout"/>) also: the journal and the lock, at any depth (a folder holding them is
    /// taken for another download's), and huggingface_hub's local-dir metadata (<c>.cache/huggingface/</c>, where a
    /// repo file would replace or sit among the metadata of other files, and a file <c>.cache</c> where that folder must
    /// be). With <see cref="StringComparison.OrdinalIgnoreCase"/>: the same on a file system that does not tell case apart.
    /// </summary>
    internal static string? ReservedProblem(string path, StringComparison comparison, bool folderLayout = true)
    {
        var name = path[(path.LastIndexOf('/') + 1)..];
        if (name.EndsWith(TempSuffix, comparison))
        {
            return $"hfdl names its temporary files '*{TempSuffix}' (and deletes those no download of its own refers to)";
        }
        if (!folderLayout)
        {
            return null;
        }
        // Every segment, without a string each (a listing of 400,000 files is checked).
        foreach (var range in path.AsSpan().Split('/'))
        {
            var segment = path.AsSpan(range);
            foreach (var own in (ReadOnlySpan<string>)[Storage.DownloadState.FileName, Storage.RepoFolderLock.FileName])
            {
                // The journal and lock record are written through temporary files beside them ('..download_state.<hex>.tmp'),
                // which a run holding the lock deletes when a killed process left them.
                if ((segment.StartsWith(own, comparison) && (segment.Length == own.Length || segment[own.Length] == '.'))
                    || (segment.Length > own.Length + 1 && segment[0] == '.' && segment[1..].StartsWith(own, comparison) && segment[own.Length + 1] == '.'))
                {
                    return "hfdl keeps its own journal and lock files under that name (and takes a folder holding them for another download's)";
                }
            }
        }
        if (path.Equals(MetadataRoot, comparison) || path.Equals(MetadataFolder, comparison) || path.StartsWith(MetadataFolder + "/", comparison))
        {
            return $"huggingface_hub and hfdl keep their download metadata in '{MetadataFolder}/' of a download folder";
        }
        return null;
    }

    private static string? WindowsProblem(string segment)
    {
        if (segment.IndexOfAny(['<', '>', ':', '"', '|', '?', '*']) >= 0)
        {
            return "it contains one of < > : \" | ? *, which Windows does not allow in file names";
        }
        if (segment[^1] is '.' or ' ')
        {
            return "a part of it ends with a dot or a space, which Windows drops (two names would become one)";
        }
        var stem = segment.Split('.')[0].TrimEnd(' ');
        if (WindowsDeviceNames.Contains(stem))
        {
            return $"'{stem}' is a device name on Windows, not a file";
        }
        return null;
    }
}
