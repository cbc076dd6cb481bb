namespace Hfdl.Core.Storage;

/// <summary>Replaces a file so that readers see either the old or the new content, never a half-written one.</summary>
internal static class AtomicFile
{
    /// <param name="durable">
    /// Flush to disk before the rename, so a power cut leaves the old or the new content. Without it a process crash
    /// still never shows a half-written file, but a power cut may leave an empty one: fine for caches and hints that
    /// are checked when read, and it spares an fsync (a journal commit) per file.
    /// </param>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, bool durable = true)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
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
