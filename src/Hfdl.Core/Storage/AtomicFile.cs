namespace Hfdl.Core.Storage;

/// <summary>Replaces a file so that readers see either the old or the new content, never a half-written one.</summary>
internal static class AtomicFile
{
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
        var temp = TempNames.Beside(Path.Combine(directory, Path.GetFileName(path)), ".tmp", hexDigits: 32);
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
