using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.Core.Tests.Storage;

public sealed class RepoFolderLockTests
{
    [Fact]
    public async Task A_waiting_download_takes_the_lock_even_when_the_holder_removed_the_whole_folder()
    {
        using var temp = new TempDirectory();
        var folder = temp.Combine("models--acme--gone");
        Directory.CreateDirectory(folder);
        var holder = RepoFolderLock.TryAcquire(folder, out _);
        Assert.NotNull(holder);
        var time = new FakeTimeProvider();
        var waitStarted = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var waiting = RepoFolderLock.AcquireAsync(folder, who => waitStarted.TrySetResult(who), time, CancellationToken.None);
        await waitStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // What `hfdl cache rm` does to a repo it removes whole: the folder goes while its lock is held.
        Directory.Delete(folder, recursive: true);
        holder.Dispose();
        time.Advance(TimeSpan.FromSeconds(1));

        using var taken = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(File.Exists(Path.Combine(folder, RepoFolderLock.FileName)));
    }

    [Fact]
    public async Task A_wait_for_a_download_of_the_same_process_says_so_rather_than_naming_the_caller_s_own_pid()
    {
        // Two downloads of one library user into one folder: "pid N", the caller's own, read as a stale lock (QA: helper-40).
        using var temp = new TempDirectory();
        var folder = temp.Combine("models--acme--twice");
        Directory.CreateDirectory(folder);
        using var holder = RepoFolderLock.TryAcquire(folder, out _);
        Assert.NotNull(holder);
        var waitStarted = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();

        var waiting = RepoFolderLock.AcquireAsync(folder, who => waitStarted.TrySetResult(who), new FakeTimeProvider(), stop.Token);
        var who = await waitStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await stop.CancelAsync();

        Assert.StartsWith($"another download in this process (pid {Environment.ProcessId} on ", who, StringComparison.Ordinal);
        Assert.Equal(who, RepoFolderLock.Holder(folder));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task A_lock_that_nobody_holds_but_that_cannot_be_taken_fails_at_once_instead_of_waiting_for_ever()
    {
        using var temp = new TempDirectory();
        var folder = temp.Combine("repo");
        // A folder at the lock file's name: opening it fails, and no holder will ever release it.
        Directory.CreateDirectory(Path.Combine(folder, RepoFolderLock.FileName));
        var time = new FakeTimeProvider();
        var waited = false;

        var error = await Assert.ThrowsAsync<HfdlException>(() =>
            RepoFolderLock.AcquireAsync(folder, _ => waited = true, time, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.False(waited);
        Assert.Contains("is a folder", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(11, true)] // EWOULDBLOCK (Linux): flock held by another open file
    [InlineData(30, false)] // EROFS: a read-only file system
    [InlineData(28, false)] // ENOSPC
    [InlineData(13, false)] // EACCES
    public void Only_a_lock_held_by_another_process_is_waited_for(int errno, bool held) =>
        Assert.Equal(held, RepoFolderLock.IsHeldElsewhere(new IOException("lock", errno)));

    [Fact]
    public void TryAcquire_refuses_a_held_lock_and_names_its_holder_and_Holder_creates_nothing()
    {
        using var temp = new TempDirectory();
        var folder = temp.Combine("repo");
        Directory.CreateDirectory(folder);

        Assert.Null(RepoFolderLock.Holder(folder));
        Assert.Empty(Directory.GetFileSystemEntries(folder));
        using (var first = RepoFolderLock.TryAcquire(folder, out _))
        {
            Assert.NotNull(first);
            var second = RepoFolderLock.TryAcquire(folder, out var who);
            Assert.Null(second);
            Assert.Contains($"pid {Environment.ProcessId}", who, StringComparison.Ordinal);
            Assert.Contains($"pid {Environment.ProcessId}", RepoFolderLock.Holder(folder), StringComparison.Ordinal);
        }
        Assert.Null(RepoFolderLock.Holder(folder));
    }
}
