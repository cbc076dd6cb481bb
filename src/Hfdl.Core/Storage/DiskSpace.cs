using System.Runtime.InteropServices;

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

    private static bool _statxUnavailable = !OperatingSystem.IsLinux();

    /// <summary>
    /// The disk space a file takes (its allocated blocks, Linux <c>statx</c>), or null where that cannot be told. A big
    /// file's temporary file is reserved whole when it starts (fallocate, which keeps its length): its length says
    /// nothing about the space it holds.
    /// </summary>
    public static long? AllocatedBytes(string path)
    {
        if (_statxUnavailable)
        {
            return null;
        }
        const int AtFdCwd = -100;
        const int AtSymlinkNoFollow = 0x100;
        const uint StatxBlocks = 0x400;
        const int BlocksOffset = 48; // struct statx: stx_mask, stx_blksize, stx_attributes, stx_nlink, stx_uid, stx_gid, stx_mode, spare, stx_ino, stx_size, then stx_blocks (512-byte units)
        var name = new byte[System.Text.Encoding.UTF8.GetByteCount(path) + 1];
        System.Text.Encoding.UTF8.GetBytes(path, name);
        var buffer = new byte[256];
        try
        {
            if (Statx(AtFdCwd, name, AtSymlinkNoFollow, StatxBlocks, buffer) != 0
                || (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(buffer) & StatxBlocks) == 0)
            {
                return null;
            }
            return checked((long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(BlocksOffset)) * 512);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _statxUnavailable = true;
            return null;
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    /// <summary>
    /// The file type bits (<c>S_IFMT</c> of <c>stx_mode</c>) of <paramref name="path"/>, links followed (Linux
    /// <c>statx</c>); null when there is nothing there or the type cannot be told.
    /// </summary>
    public static int? FileTypeBits(string path)
    {
        if (_statxUnavailable)
        {
            return null;
        }
        const int AtFdCwd = -100;
        const uint StatxType = 0x1;
        const int ModeOffset = 28; // struct statx: stx_mask, stx_blksize, stx_attributes, stx_nlink, stx_uid, stx_gid, then stx_mode (u16)
        var name = new byte[System.Text.Encoding.UTF8.GetByteCount(path) + 1];
        System.Text.Encoding.UTF8.GetBytes(path, name);
        var buffer = new byte[256];
        try
        {
            if (Statx(AtFdCwd, name, 0, StatxType, buffer) != 0
                || (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(buffer) & StatxType) == 0)
            {
                return null;
            }
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(ModeOffset)) & 0xF000;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _statxUnavailable = true;
            return null;
        }
    }

#pragma warning disable SYSLIB1054 // Blittable arguments only: DllImport needs no generated marshalling (and no unsafe code).
    [DllImport("libc", EntryPoint = "statx")]
    private static extern int Statx(int dirfd, byte[] path, int flags, uint mask, byte[] buffer);
#pragma warning restore SYSLIB1054

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
