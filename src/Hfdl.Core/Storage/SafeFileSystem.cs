using Hfdl.Core.Hub;
using Microsoft.Win32.SafeHandles;

namespace Hfdl.Core.Storage;

/// <summary>
/// A symbolic link (or a Windows junction) sits where hfdl would write. hfdl never writes through links: one that was
/// already there could point anywhere (~/.bashrc, /etc), and whatever it points at would be overwritten.
/// </summary>
/// <param name="linkPath">The link.</param>
/// <param name="linkTarget">Where it points, when it can be read.</param>
/// <param name="writingTo">What hfdl was writing, in words ("the repo file 'a.txt'", "the ref of revision 'main'"), or null.</param>
/// <param name="atTarget">The link is where <paramref name="writingTo"/> goes, not a folder on the way to it.</param>
public sealed class LinkInTargetException(string linkPath, string? linkTarget, string? writingTo = null, bool atTarget = false)
    : HfdlException($"'{SafeText.Printable(linkPath)}' is a symbolic link{(linkTarget is null ? "" : $" (to '{SafeText.Printable(linkTarget)}')")}"
        + (writingTo is null ? "" : atTarget ? $", where {writingTo} goes" : $", on the way to {writingTo}")
        + "; hfdl never writes through links; remove it and run the same command again.")
{
    /// <summary>The link that was found.</summary>
    public string LinkPath { get; } = linkPath;
}

/// <summary>
/// Something of the user's (or of another revision) is where a repo file or folder goes: a file where the repo has a
/// folder, a folder where it has a file. Moving it is the user's decision; running again as is would fail again.
/// </summary>
internal sealed class InTheWayException(string message) : HfdlException(message);

/// <summary>
/// The one place that decides how hfdl creates folders and opens files in a target folder or cache, so that nothing is
/// ever written through a link. The root (<c>--local-dir</c>, the cache root) is the user's choice and may itself be a
/// link, as may anything above it; a link at any folder or file below it refuses the write
/// (<see cref="LinkInTargetException"/>). Replacing a link by renaming over it or deleting it is fine: that changes
/// the link, never what it points at. Checks use lstat (the link itself, dangling or not); a new file is created with
/// O_EXCL (<see cref="FileMode.CreateNew"/>), which never follows a link at its name.
/// </summary>
internal static class SafeFileSystem
{
    /// <summary>The link target when <paramref name="path"/> is itself a link (a dangling one included), else null.</summary>
    public static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // Not there, or not readable: the write that follows fails on its own.
        }
    }

    /// <summary>Throws when <paramref name="path"/> is a link.</summary>
    /// <param name="writingTo">What the write is for, in words, for the message.</param>
    public static void RefuseLink(string path, string? writingTo = null, bool atTarget = false)
    {
        if (LinkTarget(path) is { } target)
        {
            throw new LinkInTargetException(path, target, writingTo, atTarget);
        }
    }

    /// <summary>
    /// Throws when a folder or file between <paramref name="root"/> (not included) and <paramref name="path"/> is a
    /// link; with <paramref name="allowLinkAtEnd"/> the last component may be one (a link hfdl replaces). Stops at the
    /// first component that does not exist: nothing below it can exist yet.
    /// </summary>
    public static void CheckNoLinks(string root, string path, bool allowLinkAtEnd = false, string? writingTo = null)
    {
        var components = ComponentsBelow(root, path);
        for (var i = 0; i < components.Count; i++)
        {
            var current = components[i];
            var last = i == components.Count - 1;
            if (!(last && allowLinkAtEnd))
            {
                RefuseLink(current, writingTo, atTarget: last);
            }
            if (!last && !Directory.Exists(current))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Creates <paramref name="folder"/> (the root included, following links above it as the user chose) one
    /// component at a time below <paramref name="root"/>, refusing any that is a link, so no folder is ever made
    /// inside a link's target.
    /// </summary>
    public static void CreateDirectory(string root, string folder)
    {
        Directory.CreateDirectory(root);
        foreach (var current in ComponentsBelow(root, folder))
        {
            RefuseLink(current);
            // One level at a time: the parent was just checked, so mkdir cannot land elsewhere (and fails on a
            // dangling link instead of creating its target).
            Directory.CreateDirectory(current);
            RefuseLink(current);
        }
    }

    /// <summary>
    /// <see cref="File.OpenHandle"/>, refusing a link at <paramref name="path"/> first. With
    /// <see cref="FileMode.CreateNew"/> the kernel refuses one too (O_EXCL), so a new file is never created through a
    /// link; the check only turns "file exists" into a message that says what is wrong. An existing file is checked
    /// again once open, before anything is written: a link swapped in between the check and the open is caught too.
    /// </summary>
    public static SafeFileHandle OpenHandle(string path, FileMode mode, FileAccess access, FileShare share, FileOptions options, long preallocationSize = 0)
    {
        RefuseLink(path);
        var handle = File.OpenHandle(path, mode, access, share, options, preallocationSize);
        if (mode != FileMode.CreateNew && LinkTarget(path) is { } target)
        {
            handle.Dispose();
            throw new LinkInTargetException(path, target);
        }
        return handle;
    }

    /// <summary>
    /// Opens the lock file, creating it if needed, without following a link: created with O_EXCL, or opened after a
    /// check that it is not a link (FileMode.OpenOrCreate would follow a dangling one and create its target). FileShare.None
    /// takes the OS lock.
    /// </summary>
    public static FileStream OpenLockFile(string path)
    {
        try
        {
            return new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException) when (File.Exists(path) || LinkTarget(path) is not null)
        {
            return new FileStream(OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.None), FileAccess.ReadWrite, 1);
        }
    }

    /// <summary>A <see cref="FileStream"/> with <paramref name="options"/>, refusing a link at <paramref name="path"/> first.</summary>
    public static FileStream Open(string path, FileStreamOptions options)
    {
        RefuseLink(path);
        return new FileStream(path, options);
    }

    /// <summary>
    /// Writes <paramref name="content"/> into a new file at <paramref name="path"/> unless something is there already
    /// (a file someone else wrote stays as it is); refuses a link, dangling or not, on the way and, unless
    /// <paramref name="leaveLinkAlone"/>, at the file itself. Either way nothing is written through one: the file is
    /// created with O_EXCL.
    /// </summary>
    public static void CreateFileIfMissing(string root, string path, ReadOnlySpan<byte> content, bool leaveLinkAlone = false)
    {
        CreateDirectory(root, Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (!leaveLinkAlone)
        {
            RefuseLink(path);
        }
        try
        {
            using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            stream.Write(content);
        }
        catch (IOException) when (File.Exists(path) || LinkTarget(path) is not null)
        {
            // Already there (another process made it meanwhile): fine, unless it is a link that must be refused.
            if (!leaveLinkAlone)
            {
                RefuseLink(path);
            }
        }
    }

    /// <summary>
    /// Creates <paramref name="folder"/> and its parents, unless a file stands where one of them must be (a revision
    /// with a file <c>a</c> downloaded before one with <c>a/b.txt</c>): that is a clear error, not "file exists".
    /// </summary>
    public static void CreateFolderFor(string folder)
    {
        if (FileInTheWay(Path.GetFullPath(folder)) is { } file)
        {
            throw new InTheWayException($"'{SafeText.Printable(file)}' is a file, but the repo has a folder with that name (another revision's file, or a file of your own?). Move the file away and run the same command again.");
        }
        Directory.CreateDirectory(folder);
    }

    /// <summary>The path, or the nearest existing path above it, when that is a file rather than a folder; else null.</summary>
    public static string? FileInTheWay(string fullPath)
    {
        for (var current = fullPath; current is not null; current = Path.GetDirectoryName(current))
        {
            if (Directory.Exists(current))
            {
                return null;
            }
            if (File.Exists(current))
            {
                return current;
            }
        }
        return null;
    }

    /// <summary>
    /// Every entry under <paramref name="folder"/>, descending into real folders only: a link (to a file or a folder,
    /// dangling or looping) is an entry of its own, never followed. Nothing when <paramref name="folder"/> is itself a link.
    /// </summary>
    public static IEnumerable<FileSystemInfo> WalkWithoutFollowingLinks(string folder)
    {
        if (!Directory.Exists(folder) || LinkTarget(folder) is not null)
        {
            yield break;
        }
        foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos())
        {
            yield return entry;
            if (entry is DirectoryInfo && entry.LinkTarget is null)
            {
                foreach (var inner in WalkWithoutFollowingLinks(entry.FullName))
                {
                    yield return inner;
                }
            }
        }
    }

    /// <summary>
    /// True when <paramref name="path"/> (through links) is a FIFO, a device or a socket: opening one can block for ever
    /// (a FIFO waits for a writer) or never end (/dev/zero). False for a regular file or a folder, for nothing there,
    /// and where the type cannot be told.
    /// </summary>
    public static bool IsSpecialFile(string path) => DiskSpace.FileTypeBits(path) is { } type && type != 0x8000 && type != 0x4000;

    /// <summary>
    /// <see cref="File.ReadAllBytes"/> of a file hfdl keeps beside a download (its journal, a cached listing, huggingface_hub's
    /// metadata): only a regular file, so that a FIFO planted there cannot hang the run (opening one waits for a writer
    /// for ever), nor a device such as /dev/zero never end. Throws <see cref="IOException"/> saying why not.
    /// </summary>
    public static byte[] ReadRegularFile(string path) => IsSpecialFile(path)
        ? throw new IOException("it is not a regular file (a FIFO, a device or a socket), so hfdl does not read it")
        : File.ReadAllBytes(path);

    /// <summary>
    /// Reads a small text file the user keeps (the token file, <c>stored_tokens</c>): only a regular file, through
    /// links, of at most <paramref name="maxBytes"/>. Throws <see cref="IOException"/> saying why not, so that a FIFO
    /// planted there cannot hang the command, nor /dev/zero or a huge file exhaust its memory.
    /// </summary>
    public static string ReadSmallTextFile(string path, int maxBytes)
    {
        if (IsSpecialFile(path))
        {
            throw new IOException("it is not a regular file (a FIFO, a device or a socket), so hfdl does not read it");
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var buffer = new byte[maxBytes + 1];
        var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (read > maxBytes)
        {
            throw new TooLargeFileException(maxBytes);
        }
        return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
    }

    /// <summary>The most a ref file holds: a commit id and a newline, give or take a byte-order mark and spaces.</summary>
    private const int MaxRefBytes = 256;

    /// <summary>
    /// Reads a ref of a Hugging Face cache (<c>refs/main</c>: a commit id) as huggingface_hub does, byte-order mark and
    /// surrounding whitespace ignored, commit ids in lower case. Only a regular file of a plausible size is opened (a
    /// FIFO would block the read for ever, a device such as /dev/zero never end), through a link too. Returns the
    /// commit, or null with <paramref name="problem"/> saying why not (unreadable, not a commit id).
    /// </summary>
    public static string? ReadRef(string path, out string? problem)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
            }
            if (!info.Exists || info.Length is 0 or > MaxRefBytes)
            {
                // A FIFO or a device reports 0 bytes, like an empty file: neither holds a commit id.
                problem = !info.Exists ? "it leads to nothing"
                    : info.Length == 0 ? "it is empty, or not a regular file (a FIFO or a device), so it holds no commit id"
                    : $"it holds {info.Length} bytes, not a commit id";
                return null;
            }
            using var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var buffer = new byte[MaxRefBytes];
            var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            var text = System.Text.Encoding.UTF8.GetString(buffer, 0, read).TrimStart('\uFEFF').Trim().ToLowerInvariant();
            if (Transfer.RepoDownloader.IsCommit(text))
            {
                problem = null;
                return text;
            }
            problem = "it does not hold a commit id";
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"it cannot be read ({ex.Message})";
            return null;
        }
    }

    /// <summary>The full paths from just below <paramref name="root"/> down to <paramref name="path"/>.</summary>
    private static List<string> ComponentsBelow(string root, string path)
    {
        var fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var components = new List<string>();
        if (full.Length == fullRoot.Length && string.Equals(full, fullRoot, StringComparison.Ordinal))
        {
            return components;
        }
        var rootWithSeparator = fullRoot.EndsWith(Path.DirectorySeparatorChar) ? fullRoot : fullRoot + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{full}' is not below '{fullRoot}'.", nameof(path));
        }
        var current = fullRoot;
        foreach (var segment in full[rootWithSeparator.Length..].Split(Path.DirectorySeparatorChar))
        {
            current = Path.Combine(current, segment);
            components.Add(current);
        }
        return components;
    }
}

/// <summary>A small file hfdl reads (<see cref="SafeFileSystem.ReadSmallTextFile"/>) is larger than it can ever be.</summary>
internal sealed class TooLargeFileException(int limit)
    : IOException($"it holds more than {limit.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes, far more than it ever should, so hfdl does not read it")
{
    public int Limit { get; } = limit;
}

/// <summary>
/// The file system refused what a call of <see cref="HfdlClient"/> had to do in the target folder or the cache: no
/// permission, a read-only file system, a place that cannot hold a folder (such as a path under <c>/proc</c>). What a
/// download wrote before is journaled, and a rerun resumes it once the place can be written.
/// </summary>
public sealed class LocalFileSystemException : HfdlException
{
    internal LocalFileSystemException(string folder, Exception inner)
        : base(Describe(folder, inner), inner)
    {
        Folder = folder;
        CannotWrite = IsCannotWrite(inner);
    }

    /// <summary>The folder the call was writing into or reading (the request's target, or the cache's root).</summary>
    public string Folder { get; }

    /// <summary>True when the place cannot be written at all (no permission, a read-only file system): trying again as is fails again.</summary>
    public bool CannotWrite { get; }

    /// <summary>True for a failure that says the place cannot be written: EACCES, EROFS, EPERM, or an access refused.</summary>
    internal static bool IsCannotWrite(Exception error) =>
        error is UnauthorizedAccessException || (error is IOException && (error.HResult & 0xFFFF) is 30 or 13 or 1);

    private static string Describe(string folder, Exception inner)
    {
        var system = SafeText.Printable(inner.Message.Trim().TrimEnd('.'));
        var shown = SafeText.Printable(folder);
        return IsCannotWrite(inner)
            ? $"{system}: hfdl cannot write there, so nothing more was downloaded into '{shown}'. Make that place writable (its permissions, or a file system mounted read-only), or choose another folder (the request's TargetFolder, or the client's CacheFolder for the Hugging Face cache)."
            : $"{system}: the file system refused it, so nothing more was downloaded into '{shown}'. Check that this is a folder hfdl can create and write files in, or choose another one (the request's TargetFolder, or the client's CacheFolder for the Hugging Face cache).";
    }
}
