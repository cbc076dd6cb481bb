using System.Globalization;
using Hfdl.Core.Hub;

namespace Hfdl.Core.Storage;

/// <summary>
/// Keeps two hfdl processes from downloading into the same folder at once. The lock is an OS file lock on
/// <c>.hfdl.lock</c> (flock on Unix), so the kernel drops it when its holder dies, even by <c>kill -9</c>: a stale lock
/// is never left behind. Correctness does not depend on it (temporary names are unique and renames atomic); it only
/// saves doing the same work twice.
/// </summary>
internal sealed class RepoFolderLock : IDisposable
{
    public const string FileName = ".hfdl.lock";
    public const string InfoFileName = ".hfdl.lock.info";
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    private readonly FileStream _stream;
    private readonly string _infoPath;

    private RepoFolderLock(FileStream stream, string infoPath)
    {
        _stream = stream;
        _infoPath = infoPath;
    }

    /// <summary>
    /// Takes the lock of <paramref name="folder"/>, waiting while another process holds it;
    /// <paramref name="onWait"/> is called once with a description of the holder when a wait starts. A link in place
    /// of the lock file is refused (<see cref="LinkInTargetException"/>), never opened.
    /// </summary>
    public static async Task<RepoFolderLock> AcquireAsync(string folder, Action<string>? onWait, TimeProvider time, CancellationToken cancellationToken)
    {
        var path = Path.Combine(folder, FileName);
        var infoPath = Path.Combine(folder, InfoFileName);
        var told = false;
        while (true)
        {
            // Inside the loop: `hfdl cache rm` may remove the whole folder while this process waits for its lock.
            Directory.CreateDirectory(folder);
            try
            {
                if (TryOpen(path, infoPath, FileMode.OpenOrCreate) is { } taken)
                {
                    return taken;
                }
                if (!told)
                {
                    told = true;
                    onWait?.Invoke(Describe(infoPath));
                }
            }
            catch (DirectoryNotFoundException)
            {
                // Removed between CreateDirectory and the open: made again on the next round.
            }
            await Task.Delay(Poll, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes the lock of <paramref name="folder"/> if no other process holds it; otherwise returns null and says who
    /// holds it in <paramref name="holder"/>. Used by <c>hfdl cache rm</c> and <c>prune</c>, which refuse rather than wait.
    /// </summary>
    public static RepoFolderLock? TryAcquire(string folder, out string holder)
    {
        var path = Path.Combine(folder, FileName);
        var infoPath = Path.Combine(folder, InfoFileName);
        var taken = TryOpen(path, infoPath, FileMode.OpenOrCreate);
        holder = taken is null ? Describe(infoPath) : "";
        return taken;
    }

    /// <summary>Who holds the lock of <paramref name="folder"/>, or null when nobody does. Creates nothing.</summary>
    public static string? Holder(string folder)
    {
        var path = Path.Combine(folder, FileName);
        var infoPath = Path.Combine(folder, InfoFileName);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            using var taken = TryOpen(path, infoPath, FileMode.Open, writeInfo: false);
            return taken is null ? Describe(infoPath) : null;
        }
        catch (Exception ex) when (ex is IOException or LockUnavailableException)
        {
            return null; // Gone meanwhile, or it cannot be opened here (a read-only file system): nobody holds it.
        }
    }

    /// <summary>Opens and locks the lock file; null when another process holds it. Other failures are thrown.</summary>
    private static RepoFolderLock? TryOpen(string path, string infoPath, FileMode mode, bool writeInfo = true)
    {
        try
        {
            var stream = mode == FileMode.Open
                ? new FileStream(SafeFileSystem.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.None), FileAccess.ReadWrite, 1)
                : SafeFileSystem.OpenLockFile(path);
            var taken = new RepoFolderLock(stream, infoPath);
            if (writeInfo)
            {
                taken.WriteInfo();
            }
            return taken;
        }
        catch (IOException ex) when (IsHeldElsewhere(ex))
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (Directory.Exists(path))
            {
                throw new HfdlException($"'{SafeText.Printable(path)}' is a folder, where hfdl keeps the lock file of this folder; move it away and run the same command again.", ex);
            }
            // A read-only file system, no permission: waiting would never end, since nobody holds the lock.
            throw new LockUnavailableException(path, ex);
        }
    }

    /// <summary>
    /// The lock file is locked by another process: EWOULDBLOCK from flock on Linux (11) and macOS (35), a sharing or
    /// lock violation on Windows. Anything else (EROFS, EACCES, ENOSPC) is a reason the lock can never be taken here.
    /// </summary>
    internal static bool IsHeldElsewhere(IOException ex) =>
        ex.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);

    private void WriteInfo()
    {
        try
        {
            // Atomic: a waiting process never reads half of it, and a link at its name is replaced, not written through.
            var folder = Path.GetDirectoryName(_infoPath)!;
            AtomicFile.WriteAllBytes(folder, _infoPath, System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"pid {Environment.ProcessId} on {Environment.MachineName} since {DateTimeOffset.UtcNow:O}\n")), durable: false);
        }
        catch (IOException)
        {
            // Only used to tell a waiting process who holds the lock.
        }
    }

    private static string Describe(string infoPath)
    {
        try
        {
            if (!File.Exists(infoPath))
            {
                return "another process";
            }
            var holder = System.Text.Encoding.UTF8.GetString(SafeFileSystem.ReadRegularFile(infoPath)).Trim();
            // Two calls of one program (a library user's two downloads into one folder) wait for each other too: saying
            // "pid N", the caller's own, read as a stale lock.
            var ours = string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} on {Environment.MachineName} ");
            return holder.StartsWith(ours, StringComparison.Ordinal) ? $"another download in this process ({holder})" : holder;
        }
        catch (IOException)
        {
            return "another process";
        }
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>
/// The lock file of a target folder cannot be taken at all: nobody holds it, the file system refuses it (a read-only
/// file system, no permission). Trying again as is fails again; make the folder writable or choose another.
/// </summary>
public sealed class LockUnavailableException(string lockPath, Exception inner)
    : HfdlException($"hfdl cannot take its lock '{SafeText.Printable(lockPath)}' ({SafeText.Printable(inner.Message.TrimEnd('.', ' '))}): the folder must be writable for hfdl to write into it. Check its permissions, or whether its file system is mounted read-only, or choose another folder.", inner)
{
    /// <summary>The lock file hfdl could not take (<c>.hfdl.lock</c> in the folder it writes into).</summary>
    public string LockPath { get; } = lockPath;
}
