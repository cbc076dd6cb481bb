using System.Globalization;

namespace Hfdl.Core.Storage;

/// <summary>
/// Keeps two hfdl processes from downloading into the same folder at once. The lock is an OS file lock on
/// <c>.hfdl.lock</c> (flock on Unix), so the kernel drops it when its holder dies, even by <c>kill -9</c>: a stale lock
/// is never left behind. Correctness does not depend on it (temporary names are unique and renames atomic); it only
/// saves doing the same work twice.
/// </summary>
public sealed class RepoFolderLock : IDisposable
{
    public const string FileName = ".hfdl.lock";
    private const string InfoFileName = ".hfdl.lock.info";
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
    /// <paramref name="onWait"/> is called once with a description of the holder when a wait starts.
    /// </summary>
    public static async Task<RepoFolderLock> AcquireAsync(string folder, Action<string>? onWait, TimeProvider time, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName);
        var infoPath = Path.Combine(folder, InfoFileName);
        var told = false;
        while (true)
        {
            try
            {
                var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
                var taken = new RepoFolderLock(stream, infoPath);
                taken.WriteInfo();
                return taken;
            }
            catch (IOException) when (File.Exists(path))
            {
                if (!told)
                {
                    told = true;
                    onWait?.Invoke(Describe(infoPath));
                }
                await Task.Delay(Poll, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void WriteInfo()
    {
        try
        {
            File.WriteAllText(_infoPath, string.Create(CultureInfo.InvariantCulture,
                $"pid {Environment.ProcessId} on {Environment.MachineName} since {DateTimeOffset.UtcNow:O}\n"));
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
            return File.Exists(infoPath) ? File.ReadAllText(infoPath).Trim() : "another process";
        }
        catch (IOException)
        {
            return "another process";
        }
    }

    public void Dispose() => _stream.Dispose();
}
