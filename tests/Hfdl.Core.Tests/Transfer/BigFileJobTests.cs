using System.Reflection;
using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;
using Hfdl.Core.Transfer;

namespace Hfdl.Core.Tests.Transfer;

/// <summary>A big file's job, as its connections see it when it ends under them.</summary>
public sealed class BigFileJobTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("hfdl-job-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task A_connection_queued_to_write_when_its_file_fails_and_is_closed_is_released_not_left_waiting_for_ever()
    {
        // A run hung for 15 minutes, deaf to SIGTERM: the job was disposed while a connection waited for its write gate,
        // and a disposed SemaphoreSlim never completes the waiters it drops, not even when their token is cancelled.
        using var client = new HubClient(new HubClientOptions { Endpoint = new Uri("http://127.0.0.1:9") });
        var file = new RemoteFile("model.bin", 1024 * 1024, new ContentHash(HashKind.Sha256, new string('a', 64)), IsLfs: true);
        var source = new CachedLocationSource(client, RepoType.Model, RepoId.Parse("acme/x"), new string('c', 40), file, TimeSpan.FromHours(1), TimeProvider.System);
        var job = BigFileJob.Open(file, Path.Combine(_folder, "model.bin"), Path.Combine(_folder, ".model.bin.part"), [], 256 * 1024, 1, source, RetryBudget.For(file.Path, file.Size, 5));
        // Another connection is in the middle of its write: it holds the gate.
        var gate = (SemaphoreSlim)typeof(BigFileJob).GetField("_writeGate", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(job)!;
        await gate.WaitAsync();

        var queued = job.WriteAsync(new byte[4096], 0, CancellationToken.None).AsTask();
        job.Fail(new IOException("the server went away"));
        await job.DisposeAsync();
        gate.Release(); // the write in progress ends

        var ended = await Task.WhenAny(queued, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(queued, ended);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
    }
}
