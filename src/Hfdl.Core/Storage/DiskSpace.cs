namespace Hfdl.Core.Storage;

/// <summary>Free space of the file system that holds a folder.</summary>
internal static class DiskSpace
{
    /// <summary>Bytes available to this user where <paramref name="folder"/> lives, or null if it cannot be told.</summary>
    public static long? AvailableBytes(string folder)
    {
        try
        {
            var full = Path.GetFullPath(folder);
            // The drive whose mount point is the longest prefix of the folder is the one that holds it.
            var drive = DriveInfo.GetDrives()
                .Where(d => IsUnder(full, d.RootDirectory.FullName))
                .OrderByDescending(d => d.RootDirectory.FullName.Length)
                .FirstOrDefault();
            return drive is { IsReady: true } ? drive.AvailableFreeSpace : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    private static bool IsUnder(string path, string root)
    {
        var normalizedRoot = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return path.StartsWith(normalizedRoot, StringComparison.Ordinal) || path == root || path + Path.DirectorySeparatorChar == normalizedRoot;
    }
}

/// <summary>Not enough free space for what is left to download.</summary>
public sealed class InsufficientDiskSpaceException(string folder, long needed, long available, long reserve)
    : HfdlException(
        $"Not enough disk space in {folder}: {needed:N0} bytes are still to download{(reserve > 0 ? $" and the reserve keeps {reserve:N0} bytes free" : "")}, but only {available:N0} bytes are available. Free some space or choose another folder, then run the same command again.")
{
    /// <summary>Bytes still to download.</summary>
    public long Needed { get; } = needed;

    /// <summary>Bytes free on the target's file system.</summary>
    public long Available { get; } = available;
}
