using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;

namespace Hfdl.IntegrationTests.Support;

/// <summary>Drives the real download engine against a server, with test-friendly timings (short backoff, short stall timeout).</summary>
public static class Engine
{
    public static DownloadOptions FastOptions => new()
    {
        RetryDelay = TimeSpan.FromMilliseconds(20),
        MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        SpeedTestDuration = TimeSpan.Zero,
        Threads = 4,
    };

    public static async Task<(DownloadSummary Summary, List<DownloadEvent> Events)> DownloadAsync(
        HubServer server,
        string repo,
        string target,
        DownloadOptions? options = null,
        TimeSpan? readTimeout = null,
        string? token = null,
        RepoType type = RepoType.Model,
        string? revision = null,
        CancellationToken cancellationToken = default,
        Action<DownloadEvent>? onEvent = null,
        Core.Storage.LayoutKind layout = Core.Storage.LayoutKind.Folder)
    {
        var events = new List<DownloadEvent>();
        var progress = new SynchronousProgress(e =>
        {
            lock (events)
            {
                events.Add(e);
            }
            onEvent?.Invoke(e);
        });
        using var client = new HubClient(new HubClientOptions
        {
            Endpoint = server.Endpoint,
            Token = token is null ? null : new AccessToken(token, TokenOrigin.CommandLine),
            ReadTimeout = readTimeout ?? TimeSpan.FromSeconds(5),
            Retries = progress,
        });
        var downloader = new RepoDownloader(client, options ?? FastOptions);
        var summary = await downloader.DownloadAsync(new DownloadRequest
        {
            RepoType = type,
            RepoId = RepoId.Parse(repo),
            Revision = revision,
            TargetFolder = target,
            Layout = layout,
        }, progress, cancellationToken);
        return (summary, events);
    }

    /// <summary>Unlike <see cref="Progress{T}"/>, reports on the calling thread, so no event arrives after the run.</summary>
    private sealed class SynchronousProgress(Action<DownloadEvent> report) : IProgress<DownloadEvent>
    {
        public void Report(DownloadEvent value) => report(value);
    }
}
