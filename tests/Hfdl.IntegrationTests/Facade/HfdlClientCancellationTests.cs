using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Facade;

/// <summary>
/// A call cancelled through the caller's token throws an <see cref="OperationCanceledException"/> (that type, not a
/// subtype) carrying that token, wherever the call was: so <c>catch (OperationCanceledException e) when
/// (e.CancellationToken == token)</c> works.
/// </summary>
public sealed class HfdlClientCancellationTests : IAsyncLifetime, IDisposable
{
    private const string Repo = "acme/cancel";
    private readonly TempFolder _temp = new();
    private HubServer _server = null!;

    public async Task InitializeAsync() => _server = await HubServer.StartAsync(new HubServerOptions
    {
        Store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, repo => repo
            .File("config.json", "{}\n")
            .File("model.safetensors", SyntheticContent.Create(6_000_000, seed: 5))),
        Faults = HubFaults.None with { PerConnectionBytesPerSecond = 1_000_000 },
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    private HfdlClient Client() =>
        new(new HfdlClientOptions { Endpoint = _server.Endpoint, Download = Engine.FastOptions with { Threads = 2 } });

    private DownloadRequest Request(string folder = "out") =>
        new() { RepoType = RepoType.Model, RepoId = RepoId.Parse(Repo), TargetFolder = _temp.Combine(folder) };

    private static async Task AssertCancelledWith(CancellationToken token, Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<OperationCanceledException>(call);
        Assert.Equal(token, error.CancellationToken);
    }

    [Fact]
    public async Task A_call_given_a_cancelled_token_throws_with_that_token()
    {
        using var hfdl = Client();
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();

        await AssertCancelledWith(cancel.Token, () => hfdl.PlanAsync(Request(), cancel.Token));
        await AssertCancelledWith(cancel.Token, () => hfdl.ListAsync(Request(), cancel.Token));
        await AssertCancelledWith(cancel.Token, () => hfdl.DownloadAsync(Request(), null, cancel.Token));
        await AssertCancelledWith(cancel.Token, () => hfdl.VerifyAsync(Request(), null, cancel.Token));
    }

    [Fact]
    public async Task A_download_cancelled_mid_transfer_throws_with_the_callers_token()
    {
        using var hfdl = Client();
        using var cancel = new CancellationTokenSource();

        await AssertCancelledWith(cancel.Token, () => hfdl.DownloadAsync(Request(), new SyncProgress(e =>
        {
            if (e is FileProgress { Path: "model.safetensors", BytesDone: > 500_000 })
            {
                cancel.Cancel();
            }
        }), cancel.Token));
    }

    [Fact]
    public async Task A_download_cancelled_while_it_waits_for_the_folders_lock_throws_with_the_callers_token()
    {
        using var hfdl = Client();
        using var stopFirst = new CancellationTokenSource();
        var started = new TaskCompletionSource();
        var first = hfdl.DownloadAsync(Request(), new SyncProgress(e =>
        {
            if (e is FileStarted)
            {
                started.TrySetResult();
            }
        }), stopFirst.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        using var cancel = new CancellationTokenSource();

        await AssertCancelledWith(cancel.Token, () => hfdl.DownloadAsync(Request(), new SyncProgress(e =>
        {
            if (e is WaitingForLock)
            {
                cancel.Cancel();
            }
        }), cancel.Token));

        await stopFirst.CancelAsync();
        await AssertCancelledWith(stopFirst.Token, () => first);
    }

    private sealed class SyncProgress(Action<DownloadEvent> handler) : IProgress<DownloadEvent>
    {
        public void Report(DownloadEvent value) => handler(value);
    }
}
