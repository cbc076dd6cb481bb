namespace Hfdl.Core.Storage;

/// <summary>Replaces a file so that readers see either the old or the new content, never a half-written one.</summary>
internal static class AtomicFile
{
    private const string TempSuffix = ".tmp";
    private const int TempHexDigits = 32;

    /// <summary>
    /// Writes <paramref name="path"/>, below <paramref name="root"/>, through a new temporary file beside it and a
    /// rename. A link on the way refuses the write (<see cref="SafeFileSystem"/>); a link at <paramref name="path"/>
    /// itself is replaced by the rename, never written through.
    /// </summary>
    /// <param name="durable">
    /// Flush to disk before the rename, so a power cut leaves the old or the new content. Without it a process crash
    /// still never shows a half-written file, but a power cut may leave an empty one: fine for caches and hints that
    /// are checked when read, and it spares an fsync (a journal commit) per file.
    /// </param>
    public static void WriteAllBytes(string root, string path, ReadOnlySpan<byte> content, bool durable = true)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        SafeFileSystem.CreateDirectory(root, directory);
        var temp = TempNames.Beside(Path.Combine(directory, Path.GetFileName(path)), TempSuffix, hexDigits: TempHexDigits);
        try
        {
            // CreateNew (O_EXCL) never follows a link at the temporary name.
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: durable);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// True for a name of exactly the shape <see cref="WriteAllBytes"/> gives its temporary files
    /// (<c>.{name}.{32 hex digits}.tmp</c>), of <paramref name="finalName"/> when given: what a process killed between
    /// the write and the rename leaves. Nothing else is ever taken for one.
    /// </summary>
    public static bool IsTemporaryFile(string name, string? finalName = null)
    {
        var hexStart = name.Length - TempSuffix.Length - TempHexDigits;
        if (hexStart < 3 || name[0] != '.' || name[hexStart - 1] != '.' || !name.EndsWith(TempSuffix, StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var c in name.AsSpan(hexStart, TempHexDigits))
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }
        return finalName is null || name.AsSpan(1, hexStart - 2).SequenceEqual(finalName);
    }

    /// <summary>
    /// Deletes the temporary files of <see cref="WriteAllBytes"/> that a killed process left in <paramref name="folder"/>
    /// (of <paramref name="finalNames"/> only, when given; in every folder below it with <paramref name="recursive"/>).
    /// Only for hfdl's own records, and only while holding the folder's lock: nobody else writes them then.
    /// </summary>
    public static void RemoveStaleTemporaryFiles(string folder, IReadOnlyCollection<string>? finalNames = null, bool recursive = false)
    {
        if (!Directory.Exists(folder) || new DirectoryInfo(folder).LinkTarget is not null)
        {
            return;
        }
        var options = new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint, RecurseSubdirectories = recursive };
        try
        {
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*" + TempSuffix, options))
            {
                if (finalNames is null ? IsTemporaryFile(file.Name) : finalNames.Any(n => IsTemporaryFile(file.Name, n)))
                {
                    TryDelete(file.FullName);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Only housekeeping: a leftover is harmless, and tried again by the next run.
        }
    }

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover temporary file is harmless and is never mistaken for a final one.
        }
    }
}
