using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Hfdl.Core.Tests.Replay;
using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.Core.Tests.Transfer;

/// <summary>A fake clock that says when a timer is armed, so a test can advance exactly past a back-off.</summary>
public sealed class WatchedTimeProvider() : FakeTimeProvider(new DateTimeOffset(2025, 3, 7, 12, 0, 0, TimeSpan.Zero))
{
    public Channel<TimeSpan> Armed { get; } = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            Armed.Writer.TryWrite(dueTime);
        }
        return timer;
    }
}

public sealed class RecordingProgress : IProgress<DownloadEvent>
{
    public ConcurrentQueue<DownloadEvent> Events { get; } = new();

    public void Report(DownloadEvent value) => Events.Enqueue(value);
}

/// <summary>Whole downloads against a fake Hub and a fake CDN on loopback, on a fake clock.</summary>
public sealed class RepoDownloaderTests : IAsyncLifetime, IDisposable
{
    private const string Secret = "hf_SECRETSECRET";
    private const string Commit = "86b5e0934494bd15c9632b12f734a8a67f723594";
    private static readonly RepoId Repo = RepoId.Parse("org/name");

    // Deterministic contents; the LFS one has a period (251) that divides no buffer size, so misplaced bytes show.
    private static readonly byte[] Config = Encoding.UTF8.GetBytes("{\"architectures\":[\"BertForMaskedLM\"],\"model_type\":\"bert\"}\n");
    private static readonly byte[] Readme = Encoding.UTF8.GetBytes("# org/name\n\nA model card.\n");
    private static readonly byte[] Weights = Enumerable.Range(0, 700_001).Select(i => (byte)(i % 251)).ToArray();
    private static readonly string WeightsSha256 = Convert.ToHexStringLower(SHA256.HashData(Weights));

    private readonly TempDirectory _temp = new();
    private readonly WatchedTimeProvider _time = new();
    private ReplayServer _hub = null!;
    private ReplayServer _cdn = null!;
    private int _configAnswers;

    public async Task InitializeAsync()
    {
        _hub = await ReplayServer.StartAsync();
        _cdn = await ReplayServer.StartAsync();
        _hub.Handler = Hub;
        _cdn.Handler = Cdn;
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        await _cdn.DisposeAsync();
    }

    public void Dispose() => _temp.Dispose();

    public Func<ReceivedRequest, ReplayResponse> CdnBody { get; set; } = _ => ReplayResponse.NotRecorded(null!);

    private string Tree() => JsonSerializer.Serialize(new List<TreeEntry>
    {
        new() { Type = "file", Path = "config.json", Size = Config.Length, Oid = GitBlobHasher.Compute(Config) },
        new() { Type = "directory", Path = "weights", Size = 0, Oid = "d03ec5ec179df58241d27d55f92a674f5f44197f" },
        new()
        {
            Type = "file", Path = "weights/model.bin", Size = Weights.Length, Oid = "9eb98c817f04b051b3bcca591bcd4e03cec88018",
            Lfs = new LfsPointerInfo { Oid = WeightsSha256, Size = Weights.Length, PointerSize = 134 },
            XetHash = new string('*', 64),
        },
        new() { Type = "file", Path = "README.md", Size = Readme.Length, Oid = GitBlobHasher.Compute(Readme) },
    }, HubJsonContext.Default.ListTreeEntry);

    private ReplayResponse Hub(ReceivedRequest request)
    {
        var resolve = $"/org/name/resolve/{Commit}/";
        switch (request.Path)
        {
            case "/api/models/org/name/revision/main":
                return ReplayResponse.Json($"{{\"_id\":\"621ffdc036468d709f174338\",\"id\":\"org/name\",\"sha\":\"{Commit}\",\"siblings\":[]}}");
            case $"/api/models/org/name/tree/{Commit}":
                return ReplayResponse.Json(Tree());
            case var p when p == resolve + "config.json":
                // The first answer is the real 429 shape; then §4.1 (B): relative 307 to resolve-cache.
                return Interlocked.Increment(ref _configAnswers) == 1
                    ? ReplayResponse.Text(429, "Too Many Requests", ("RateLimit", "\"resolvers\";r=0;t=55"), ("RateLimit-Policy", "\"fixed window\";\"resolvers\";q=3000;w=300"))
                    : ReplayResponse.Redirect(307, $"/api/resolve-cache/models/org/name/{Commit}/config.json?etag=%22{GitBlobHasher.Compute(Config)}%22", ("X-Repo-Commit", Commit));
            case var p when p == $"/api/resolve-cache/models/org/name/{Commit}/config.json":
                return new ReplayResponse { Body = Config, Headers = [new("ETag", $"\"{GitBlobHasher.Compute(Config)}\""), new("X-Repo-Commit", Commit)] };
            case var p when p == resolve + "README.md":
                return new ReplayResponse { Body = Readme, Headers = [new("ETag", $"\"{GitBlobHasher.Compute(Readme)}\""), new("X-Repo-Commit", Commit)] };
            case var p when p == resolve + "weights/model.bin":
                // §4.1 (A): a 302 to a CDN on another host, with a short-lived signed URL.
                return ReplayResponse.Redirect(302, _cdn.UrlAs("localhost", $"/xet-bridge-us/621ffdc0/{WeightsSha256}?Expires=1741000000&Signature=abc").AbsoluteUri,
                    ("X-Repo-Commit", Commit), ("X-Linked-Size", Weights.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("X-Linked-Etag", $"\"{WeightsSha256}\""));
            default:
                return ReplayResponse.NotRecorded(request);
        }
    }

    private ReplayResponse Cdn(ReceivedRequest request)
    {
        if (request.Authorization is not null)
        {
            // Signed URLs refuse a second auth mechanism, as S3 does.
            return ReplayResponse.Text(400, "Only one auth mechanism allowed");
        }
        return CdnBody(request);
    }

    private static ReplayResponse Whole(byte[] content) => new() { Body = content, Headers = [new("ETag", "\"879c5715c18a0b7f051dd33f70f0a5c8dd1522e0a43f6f75520f16167f29279b\"")] };

    // Longer than any back-off the tests move the fake clock past, so no transfer in flight times out by accident.
    private static readonly TimeSpan LongReadTimeout = TimeSpan.FromMinutes(10);
    private readonly Channel<int> _stalled = Channel.CreateUnbounded<int>();
    private TimeSpan _readTimeout = LongReadTimeout;

    private (RepoDownloader Downloader, HubClient Client) Create(TimeSpan? readTimeout = null)
    {
        _readTimeout = readTimeout ?? LongReadTimeout;
        var client = new HubClient(new HubClientOptions
        {
            Endpoint = _hub.BaseUri,
            Token = new AccessToken(Secret, TokenOrigin.HfTokenVariable),
            ApiTimeout = TimeSpan.FromSeconds(30),
            ReadTimeout = _readTimeout,
        });
        // Every write reports its progress, so a test knows when the client has what a stalled server sent.
        return (new RepoDownloader(client, new DownloadOptions { Threads = 2, Time = _time, ProgressInterval = TimeSpan.Zero }), client);
    }

    /// <summary>Timers that are no back-off: a transfer's read timeout and the journal's save tick.</summary>
    private bool IsBackoff(TimeSpan due) => due != _readTimeout && due != new DownloadOptions().CheckpointInterval;

    /// <summary>The next back-off the download arms.</summary>
    private async Task<TimeSpan> NextBackoffAsync()
    {
        while (true)
        {
            var due = await _time.Armed.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            if (IsBackoff(due))
            {
                return due;
            }
        }
    }

    /// <summary>
    /// Runs a download, moving the fake clock past every back-off it arms, and past the read timeout once a CDN answer
    /// stalls and the client has received what it sent (<see cref="_stalled"/>), so no test waits for real.
    /// </summary>
    private async Task<T> WithClock<T>(Task<T> work, RecordingProgress progress)
    {
        var deadline = Task.Delay(TimeSpan.FromSeconds(60));
        while (!work.IsCompleted)
        {
            var armed = _time.Armed.Reader.WaitToReadAsync().AsTask();
            var stalled = _stalled.Reader.WaitToReadAsync().AsTask();
            var first = await Task.WhenAny(work, armed, stalled, deadline);
            if (first == deadline)
            {
                throw new TimeoutException("The download did not finish within 60 s.");
            }
            while (_time.Armed.Reader.TryRead(out var due))
            {
                if (IsBackoff(due))
                {
                    _time.Advance(due);
                }
            }
            while (_stalled.Reader.TryRead(out var sent))
            {
                await WaitUntilReceivedAsync(progress, sent);
                _time.Advance(_readTimeout);
            }
        }
        return await work;
    }

    /// <summary>
    /// Waits (30 s at most) until the client reports <paramref name="bytes"/> of the weights written and no other file
    /// in flight: moving the one clock past the read timeout times out every transfer in flight, not only the stalled one.
    /// </summary>
    private static async Task WaitUntilReceivedAsync(RecordingProgress progress, int bytes)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        bool OthersInFlight() => progress.Events.OfType<FileStarted>().Any(started => started.Path != "weights/model.bin"
            && !progress.Events.Any(e => (e is FileCompleted c && c.Path == started.Path) || (e is FileFailed f && f.Path == started.Path)));
        while ((bytes > 0 && !progress.Events.Any(e => e is FileProgress { Path: "weights/model.bin" } p && p.BytesDone >= bytes)) || OthersInFlight())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The client never reported the {bytes} bytes the server sent.");
            }
            await Task.Delay(5);
        }
    }

    /// <summary>A CDN answer that sends the first <paramref name="count"/> bytes and then stalls until the client gives up.</summary>
    private ReplayResponse StallAfter(int count) => new()
    {
        Writer = async (response, ct) =>
        {
            response.ContentLength = Weights.Length;
            await response.Body.WriteAsync(Weights.AsMemory(0, count), ct);
            await response.Body.FlushAsync(ct);
            _stalled.Writer.TryWrite(count);
            await Task.Delay(Timeout.Infinite, ct);
        },
    };

    /// <summary>A CDN that accepts the request and never sends the response's headers.</summary>
    private ReplayResponse NeverAnswers() => new()
    {
        Writer = async (_, ct) =>
        {
            _stalled.Writer.TryWrite(0);
            await Task.Delay(Timeout.Infinite, ct);
        },
    };

    private DownloadRequest Request => new() { RepoType = RepoType.Model, RepoId = Repo, TargetFolder = _temp.Combine("out") };

    [Fact]
    public async Task A_repo_downloads_verified_with_a_429_backing_off_56_seconds_on_the_fake_clock()
    {
        CdnBody = _ => Whole(Weights);
        var (downloader, client) = Create();
        using var _ = client;
        var progress = new RecordingProgress();

        var download = Task.Run(() => downloader.DownloadAsync(Request, progress, CancellationToken.None));
        var backoff = await NextBackoffAsync();
        _time.Advance(backoff);
        var summary = await download.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(TimeSpan.FromSeconds(56), backoff);
        Assert.Equal((3, 0, 0), (summary.FilesDownloaded, summary.FilesSkipped, summary.FilesFailed));
        Assert.Equal(Commit, summary.Commit);
        Assert.Equal(Config, await File.ReadAllBytesAsync(_temp.Combine("out", "config.json")));
        Assert.Equal(Readme, await File.ReadAllBytesAsync(_temp.Combine("out", "README.md")));
        Assert.Equal(Weights, await File.ReadAllBytesAsync(_temp.Combine("out", "weights", "model.bin")));
        var retry = Assert.Single(progress.Events.OfType<FileRetrying>());
        Assert.Equal(("config.json", TimeSpan.FromSeconds(56)), (retry.Path, retry.Delay));
        Assert.Single(progress.Events.OfType<DownloadFinished>());

        // The token went to the Hub only, never to the CDN, and never into the state file.
        Assert.All(_hub.Requests, r => Assert.Equal($"Bearer {Secret}", r.Authorization));
        var cdnRequest = Assert.Single(_cdn.Requests);
        Assert.Null(cdnRequest.Authorization);
        var state = await File.ReadAllTextAsync(_temp.Combine("out", DownloadState.FileName));
        Assert.DoesNotContain("SECRET", state, StringComparison.Ordinal);
        Assert.DoesNotContain("Signature", state, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_temp.Combine("out"), "*.hfdl-part", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_second_run_finds_everything_verified_and_downloads_nothing()
    {
        CdnBody = _ => Whole(Weights);
        _configAnswers = 1; // no 429 this time
        var (downloader, client) = Create();
        using var _ = client;
        await downloader.DownloadAsync(Request, null, CancellationToken.None);
        _hub.ClearRequests();
        _cdn.ClearRequests();

        var summary = await downloader.DownloadAsync(Request, null, CancellationToken.None);

        Assert.Equal((0, 3, 0), (summary.FilesDownloaded, summary.FilesSkipped, summary.FilesFailed));
        Assert.DoesNotContain(_hub.Requests, r => r.Path.Contains("/resolve", StringComparison.Ordinal));
        Assert.Empty(_cdn.Requests);
    }

    [Fact]
    public async Task A_transfer_that_stalls_mid_file_resumes_with_a_Range_request()
    {
        _configAnswers = 1;
        var half = Weights.Length / 2;
        CdnBody = request =>
        {
            if (request.Headers.TryGetValue("Range", out var range))
            {
                var from = long.Parse(range["bytes=".Length..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
                return new ReplayResponse
                {
                    Status = 206,
                    Body = Weights[(int)from..],
                    Headers = [new("Content-Range", $"bytes {from}-{Weights.Length - 1}/{Weights.Length}")],
                };
            }
            return StallAfter(half);
        };
        var (downloader, client) = Create(readTimeout: TimeSpan.FromMilliseconds(500));
        using var _ = client;
        var progress = new RecordingProgress();

        var summary = await WithClock(downloader.DownloadAsync(Request, progress, CancellationToken.None), progress);

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, await File.ReadAllBytesAsync(_temp.Combine("out", "weights", "model.bin")));
        // Exactly two requests, the second from byte `half`.
        Assert.False(_cdn.Requests[0].Headers.ContainsKey("Range"));
        var resumedFrom = long.Parse(_cdn.Requests[^1].Headers["Range"]["bytes=".Length..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(2, _cdn.Requests.Count);
        Assert.Equal(half, resumedFrom);
        // Each attempt went back through the Hub for a fresh signed URL.
        Assert.Equal(_cdn.Requests.Count, _hub.Requests.Count(r => r.Path.EndsWith("/weights/model.bin", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_server_that_ignores_Range_makes_the_file_start_again_from_zero()
    {
        _configAnswers = 1;
        var first = true;
        CdnBody = _ =>
        {
            if (!first)
            {
                return Whole(Weights); // 200 to a Range request: the whole file again
            }
            first = false;
            return StallAfter(1000);
        };
        var (downloader, client) = Create(readTimeout: TimeSpan.FromMilliseconds(500));
        using var _ = client;
        var progress = new RecordingProgress();

        var summary = await WithClock(downloader.DownloadAsync(Request, progress, CancellationToken.None), progress);

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, await File.ReadAllBytesAsync(_temp.Combine("out", "weights", "model.bin")));
        // The content is right although the 200 answered a Range request: the partial bytes were thrown away.
        Assert.Contains(_cdn.Requests, r => r.Headers.TryGetValue("Range", out var range) && range.StartsWith("bytes=", StringComparison.Ordinal));
        // ...and not by luck: no whole-file retry after a size or hash mismatch was needed.
        Assert.DoesNotContain(progress.Events.OfType<FileRetrying>(), r => r.Reason.Contains("did not match", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_CDN_that_never_sends_headers_is_tried_again_after_the_read_timeout()
    {
        _configAnswers = 1;
        var answers = 0;
        CdnBody = _ => Interlocked.Increment(ref answers) == 1 ? NeverAnswers() : Whole(Weights);
        var (downloader, client) = Create(readTimeout: TimeSpan.FromMilliseconds(500));
        using var _ = client;
        var progress = new RecordingProgress();

        var summary = await WithClock(downloader.DownloadAsync(Request, progress, CancellationToken.None), progress);

        Assert.Equal(0, summary.FilesFailed);
        Assert.Equal(Weights, await File.ReadAllBytesAsync(_temp.Combine("out", "weights", "model.bin")));
        Assert.Equal(2, _cdn.Requests.Count);
        Assert.Contains(progress.Events.OfType<FileRetrying>(), r => r.Path == "weights/model.bin");
    }

    [Fact]
    public async Task Corrupt_bytes_are_never_put_under_the_final_name()
    {
        _configAnswers = 1;
        var corrupt = (byte[])Weights.Clone();
        corrupt[123_456] ^= 0xFF;
        CdnBody = _ => Whole(corrupt);
        var (downloader, client) = Create();
        using var _ = client;
        var progress = new RecordingProgress();

        var summary = await WithClock(downloader.DownloadAsync(Request, progress, CancellationToken.None), progress);

        Assert.Equal((2, 1), (summary.FilesDownloaded, summary.FilesFailed));
        Assert.False(File.Exists(_temp.Combine("out", "weights", "model.bin")));
        Assert.Empty(Directory.GetFiles(_temp.Combine("out"), "*.hfdl-part", SearchOption.AllDirectories));
        var failed = Assert.Single(progress.Events.OfType<FileFailed>());
        Assert.Equal("weights/model.bin", failed.Path);
        Assert.Contains(WeightsSha256, failed.Error, StringComparison.Ordinal);
        Assert.Equal(2, _cdn.Requests.Count); // one more full attempt, then reported
        var state = DownloadStateStore.Open(_temp.Combine("out"), RepoType.Model, Repo, _time);
        Assert.Null(state.Get("weights/model.bin"));
        Assert.NotNull(state.Get("config.json"));
    }

    [Fact]
    public async Task A_gated_repo_stops_the_whole_download_with_GatedRepoException()
    {
        _configAnswers = 1;
        CdnBody = _ => Whole(Weights);
        var previous = _hub.Handler;
        _hub.Handler = request => request.Path.Contains("/resolve/", StringComparison.Ordinal)
            ? new ReplayResponse
            {
                Status = 403,
                Headers = [new("X-Error-Code", "GatedRepo"), new("X-Error-Message", "Access to model org/name is restricted and you are not in the authorized list. Visit https://huggingface.co/org/name to ask for access.")],
            }
            : previous(request);
        var (downloader, client) = Create();
        using var _ = client;

        var ex = await Assert.ThrowsAsync<GatedRepoException>(() => WithClock(downloader.DownloadAsync(Request, null, CancellationToken.None), new RecordingProgress()));

        Assert.Contains($"{_hub.BaseUri.GetLeftPart(UriPartial.Authority)}/org/name", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", ex.ToString(), StringComparison.Ordinal);
        Assert.Empty(_cdn.Requests);
    }
}
