namespace Hfdl.Core.Storage;

/// <summary>What belongs to one download folder when download folders nest.</summary>
internal static class DownloadFolder
{
    /// <summary>
    /// The files under <paramref name="root"/> matching <paramref name="pattern"/> that can only be this download's: a
    /// folder below it that holds a journal or a lock of its own is another download's (<c>-d downloads</c> puts
    /// <c>gpt2/x</c> inside <c>gpt2</c>, and a <c>--local-dir</c> may contain another download's folder), and is not
    /// looked into. Links are not followed; unreadable folders are skipped.
    /// </summary>
    public static IEnumerable<string> OwnFiles(string root, string pattern = "*")
    {
        var options = new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
        var folders = new Stack<string>([root]);
        while (folders.TryPop(out var folder))
        {
            foreach (var file in Directory.EnumerateFiles(folder, pattern, options))
            {
                yield return file;
            }
            foreach (var inner in Directory.EnumerateDirectories(folder, "*", options))
            {
                if (!IsAnotherDownload(inner))
                {
                    folders.Push(inner);
                }
            }
        }
    }

    /// <summary>
    /// The nearest folder above <paramref name="root"/> whose download lock another process holds (a download in
    /// progress whose target holds this one), with who holds it; null when there is none.
    /// </summary>
    public static (string Folder, string Holder)? EnclosingDownloadInProgress(string root)
    {
        for (var folder = Path.GetDirectoryName(Path.GetFullPath(root)); folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (RepoFolderLock.Holder(folder) is { } holder)
            {
                return (folder, holder);
            }
        }
        return null;
    }

    /// <summary>True when <paramref name="folder"/> holds a download journal or lock of its own.</summary>
    public static bool IsAnotherDownload(string folder) =>
        File.Exists(Path.Combine(folder, DownloadState.FileName)) || File.Exists(Path.Combine(folder, RepoFolderLock.FileName));
}
