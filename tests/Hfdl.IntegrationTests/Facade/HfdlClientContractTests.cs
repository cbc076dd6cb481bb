using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Facade;

/// <summary>
/// The library's contract with a caller (QA of the public API): bad requests and options are refused with the
/// property named before anything is asked or written, Dispose stops what runs, and what a call returns cannot be
/// changed by the caller.
/// </summary>
public sealed class HfdlClientContractTests : IAsyncLifetime, IDisposable
{
    private const string Repo = "acme/contract";
    private readonly TempFolder _temp = new();
    private HubServer _server = null!;

    public async Task InitializeAsync() => _server = await HubServer.StartAsync(new HubServerOptions
    {
        Store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, repo => repo
            .File("config.json", "{}\n")
            .File("model.safetensors", SyntheticContent.Create(6_000_000, seed: 3)))
            .AddRepo(RepoType.Model, "acme/private", repo => repo.File("a.txt", "a").Settings(s => s with { Private = true }))
            .AddRepo(RepoType.Model, "acme/gated", repo => repo.File("a.txt", "a").Settings(s => s with { Gated = GatedMode.Auto })),
        // Slow enough to dispose the client in the middle of the download.
        Faults = HubFaults.None with { PerConnectionBytesPerSecond = 1_000_000 },
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    private HfdlClient Client(DownloadOptions? download = null) =>
        new(new HfdlClientOptions { Endpoint = _server.Endpoint, Download = download ?? Engine.FastOptions with { Threads = 2 } });

    private DownloadRequest Request(string folder = "out") =>
        new() { RepoType = RepoType.Model, RepoId = RepoId.Parse(Repo), TargetFolder = _temp.Combine(folder) };

    public static TheoryData<string, string> BadRequests() => new()
    {
        { "no-repo", "RepoId must be set" },
        { "null-files", "Files must be a list" },
        { "null-entry", "Files must not hold null entries" },
        { "null-target", "TargetFolder must name a folder" },
        { "empty-target", "TargetFolder must name a folder" },
        { "file-target", "which is a file; it must be a folder" },
        { "odd-layout", "Layout must be Folder or HfCache" },
        { "odd-existing", "Existing must be one of" },
        { "odd-type", "RepoType must be Model, Dataset or Space" },
        { "empty-revision", "Revision must be a branch" },
        { "control-revision", "Revision is 'main\\x0a', which holds a control character" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task A_request_no_run_can_carry_out_is_refused_naming_the_property_before_anything_is_asked(string what, string message)
    {
        File.WriteAllText(_temp.Combine("a-file"), "x");
        using var hfdl = Client();
        await _server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = _server.Requests.Count;

        var error = await Assert.ThrowsAsync<InvalidOptionException>(async () =>
        {
            var request = what switch
            {
                "no-repo" => Request() with { RepoId = default },
                "null-files" => Request() with { Files = null! },
                "null-entry" => Request() with { Files = ["config.json", null!] },
                "null-target" => Request() with { TargetFolder = null! },
                "empty-target" => Request() with { TargetFolder = "" },
                "file-target" => Request("a-file"),
                "odd-layout" => Request() with { Layout = (LayoutKind)42 },
                "odd-existing" => Request() with { Existing = (ExistingFiles)42 },
                "odd-type" => Request() with { RepoType = (RepoType)99 },
                "control-revision" => Request() with { Revision = "main\n" },
                _ => Request() with { Revision = "" },
            };
            await hfdl.DownloadAsync(request);
        });

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(before, _server.Requests.Count);
        Assert.False(Directory.Exists(_temp.Combine("out")), "nothing was written");
    }

    public static TheoryData<string, string> BadOptions() => new()
    {
        { "retries", "MaxRetries must be between 0 and 1000" },
        { "delay", "RetryDelay must be between 0 and a day" },
        { "max-delay", "MaxRetryDelay must be between RetryDelay and a day" },
        { "read-timeout", "ReadTimeout must be more than 0 seconds" },
        { "zero-read-timeout", "ReadTimeout must be more than 0 seconds" },
        { "no-endpoint", "Endpoint must be an absolute http(s) URL" },
        { "no-download", "Download must be set" },
        // An empty token was an ArgumentException naming an internal parameter; a negative interval was accepted;
        // NaN was said to be negative.
        { "empty-token", "Token is empty; give a Hub token, or null for none" },
        { "blank-token", "Token is empty; give a Hub token, or null for none" },
        { "progress-interval", "ProgressInterval must be between 0 and a day" },
        { "nan-speed", "MinSpeedPerConnection must be a finite number of bytes per second, 0 or more (got NaN)" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Options_no_run_can_use_are_refused_by_the_constructor(string what, string message)
    {
        var options = new HfdlClientOptions { Endpoint = _server.Endpoint };
        options = what switch
        {
            "retries" => options with { Download = new DownloadOptions { MaxRetries = -1 } },
            "delay" => options with { Download = new DownloadOptions { RetryDelay = TimeSpan.FromSeconds(-1) } },
            "max-delay" => options with { Download = new DownloadOptions { MaxRetryDelay = TimeSpan.MaxValue } },
            "read-timeout" => options with { ReadTimeout = TimeSpan.FromSeconds(-1) },
            "zero-read-timeout" => options with { ReadTimeout = TimeSpan.Zero },
            "no-endpoint" => options with { Endpoint = null! },
            "empty-token" => options with { Token = "" },
            "blank-token" => options with { Token = " \n " },
            "progress-interval" => options with { Download = new DownloadOptions { ProgressInterval = TimeSpan.FromSeconds(-1) } },
            "nan-speed" => options with { Download = new DownloadOptions { MinSpeedPerConnection = double.NaN } },
            _ => options with { Download = null! },
        };

        var error = Assert.Throws<InvalidOptionException>(() => new HfdlClient(options));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("acme/private")]
    [InlineData("acme/gated")]
    public async Task A_client_without_a_token_is_told_to_give_one_in_its_options_not_to_log_in_which_it_never_reads(string repo)
    {
        // helper-40: a client built from explicit options ignores HF_TOKEN and the token file, so "log in (or set
        // HF_TOKEN)" was advice that could not work.
        using var hfdl = Client();

        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var error = await Assert.ThrowsAnyAsync<HfdlException>(() => hfdl.DownloadAsync(
            Request() with { RepoId = RepoId.Parse(repo) },
            new Progress<DownloadEvent>(e => { if (e is FileFailed failed) failures.Enqueue(failed.Error); })));
        var message = failures.IsEmpty ? error.Message : string.Join(" ", failures);
        // What hfdl says, not what the Hub said ("Please log in." is the real Hub's word for a gated repo).
        message = message.Split("The Hub said", StringSplitOptions.None)[0];

        Assert.Contains("HfdlClientOptions.Token", message, StringComparison.Ordinal);
        Assert.DoesNotContain("HF_TOKEN", message, StringComparison.Ordinal);
        Assert.DoesNotContain("log in", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_options_are_refused_with_ArgumentNullException()
    {
        var error = Assert.Throws<ArgumentNullException>(() => new HfdlClient(null!));

        Assert.Equal("options", error.ParamName);
    }

    [Fact]
    public async Task DisposeAsync_returns_only_once_the_calls_in_flight_have_ended()
    {
        // Dispose returned while the call it cancelled was still ending: a host could not wait for a clean stop (QA: helper-40).
        var hfdl = Client();
        var download = await StartedDownloadAsync(hfdl);

        await hfdl.DisposeAsync();

        Assert.True(download.IsCompleted, "DisposeAsync returned before the download it stopped had ended");
        await Assert.ThrowsAsync<ObjectDisposedException>(() => download);
        await hfdl.DisposeAsync(); // twice is fine
        await using var idle = Client();
    }

    [Fact]
    public async Task Dispose_stops_a_download_in_flight_which_a_new_client_resumes_and_later_calls_name_the_client()
    {
        var hfdl = Client();
        var download = await StartedDownloadAsync(hfdl);

        hfdl.Dispose();

        var stopped = await Assert.ThrowsAsync<ObjectDisposedException>(() => download.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(typeof(HfdlClient).FullName, stopped.ObjectName);
        var afterwards = await Assert.ThrowsAsync<ObjectDisposedException>(() => hfdl.PlanAsync(Request()));
        Assert.Equal(typeof(HfdlClient).FullName, afterwards.ObjectName);
        // Nothing goes on writing once the call has ended: the part file stays as it was.
        var part = Directory.GetFiles(_temp.Combine("out"), "*.hfdl-part", SearchOption.AllDirectories).Single();
        var length = new FileInfo(part).Length;
        var written = File.GetLastWriteTimeUtc(part);
        await _server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(written, File.GetLastWriteTimeUtc(part));
        Assert.Equal(length, new FileInfo(part).Length);

        using var again = Client();
        var plan = await again.PlanAsync(Request());
        Assert.Equal(PlannedAction.Resume, plan.Files.Single(f => f.Path == "model.safetensors").Action);
        var summary = await again.DownloadAsync(Request());
        Assert.Equal(0, summary.FilesFailed);
    }

    [Fact]
    public async Task What_a_call_returns_and_what_a_request_holds_cannot_be_changed_by_the_caller()
    {
        using var hfdl = Client();
        var files = new List<string> { "config.json" };
        var request = Request() with { Files = files };
        files.Add("model.safetensors");

        var plan = await hfdl.PlanAsync(request);
        var listing = await hfdl.ListAsync(request);

        Assert.Equal(["config.json"], request.Files);
        Assert.Throws<NotSupportedException>(() => ((System.Collections.IList)plan.Files).Clear());
        Assert.Throws<NotSupportedException>(() => ((System.Collections.IList)listing.Files).Clear());
    }

    [Fact]
    public async Task A_progress_handler_that_blocks_does_not_hold_the_transfer_and_every_event_arrives_before_the_call_returns()
    {
        using var hfdl = Client();
        var events = new List<DownloadEvent>();
        var sawFileWhileBlocked = new System.Runtime.CompilerServices.StrongBox<bool>();

        // A transfer that waited for the handler would never get the file there (before, the wait ran out at 60 s).
        var summary = await hfdl.DownloadAsync(Request(), HeldUntilTheModelIsOnDisk(events, sawFileWhileBlocked));

        Assert.True(sawFileWhileBlocked.Value, "the download waited for the progress handler");
        Assert.Equal(0, summary.FilesFailed);
        // One handler thread, in order, and nothing after the call returned: the summary event is the last one.
        Assert.IsType<DownloadFinished>(events[^1]);
        Assert.True(events.FindIndex(e => e is FileStarted { Path: "model.safetensors" }) < events.FindIndex(e => e is FileCompleted { Path: "model.safetensors" }));
    }

    [Fact]
    public async Task While_the_handler_is_busy_statistics_merge_too_and_each_file_s_last_progress_is_its_size()
    {
        // A handler taking 2 s per event kept a 27 s download's call going for 122 s on a backlog of connection
        // statistics, and a big file's last progress event stopped short of its size (QA: helper-40).
        using var hfdl = Client(Engine.FastOptions with { Threads = 2, BigFileThreshold = 1_000_000 });
        var events = new List<DownloadEvent>();

        var summary = await hfdl.DownloadAsync(Request(), HeldUntilTheModelIsOnDisk(events, new()));

        Assert.Equal(0, summary.FilesFailed);
        Assert.True(events.OfType<TransferStats>().Count() <= 1, $"{events.OfType<TransferStats>().Count()} statistics delivered after the handler was free");
        Assert.True(events.OfType<FileProgress>().Count(p => p.Path == "model.safetensors") <= 1);
        Assert.All(new[] { "config.json", "model.safetensors" }, path =>
        {
            var last = events.OfType<FileProgress>().Last(p => p.Path == path);
            Assert.Equal(last.Size, last.BytesDone);
        });
    }

    [Fact]
    public async Task A_progress_handler_that_throws_stops_the_call_with_its_own_exception()
    {
        using var hfdl = Client();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => hfdl.DownloadAsync(Request(), new SyncProgress(e =>
        {
            if (e is FileProgress { Path: "model.safetensors" })
            {
                throw new InvalidOperationException("the caller's handler failed");
            }
        })));

        Assert.Equal("the caller's handler failed", error.Message);
        Assert.False(File.Exists(Path.Combine(_temp.Combine("out"), "model.safetensors")), "the download stopped");

        // Even on the very last event, delivered after the download itself ended.
        var last = await Assert.ThrowsAsync<InvalidOperationException>(() => hfdl.DownloadAsync(Request("again"), new SyncProgress(e =>
        {
            if (e is DownloadFinished)
            {
                throw new InvalidOperationException("failed on the summary");
            }
        })));
        Assert.Equal("failed on the summary", last.Message);
    }

    /// <summary>
    /// A handler that holds its first event until the model is on disk (the download goes on meanwhile: every later
    /// event waits in the client's queue), then records every event; <paramref name="sawFile"/> says whether it got there.
    /// </summary>
    private SyncProgress HeldUntilTheModelIsOnDisk(List<DownloadEvent> events, System.Runtime.CompilerServices.StrongBox<bool> sawFile)
    {
        var final = Path.Combine(_temp.Combine("out"), "model.safetensors");
        var first = true;
        return new SyncProgress(e =>
        {
            if (first)
            {
                first = false;
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
                while (!File.Exists(final) && DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(20);
                }
                sawFile.Value = File.Exists(final);
            }
            events.Add(e);
        });
    }

    /// <summary>A download of the model, once its big file is a megabyte in: a call to stop in the middle.</summary>
    private async Task<Task<DownloadSummary>> StartedDownloadAsync(HfdlClient hfdl)
    {
        var started = new TaskCompletionSource();
        var download = hfdl.DownloadAsync(Request(), new SyncProgress(e =>
        {
            if (e is FileProgress { Path: "model.safetensors", BytesDone: > 1_000_000 })
            {
                started.TrySetResult();
            }
        }));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return download;
    }

    /// <summary>Reports on the caller's thread, as a handler written without <see cref="Progress{T}"/> does.</summary>
    private sealed class SyncProgress(Action<DownloadEvent> handler) : IProgress<DownloadEvent>
    {
        public void Report(DownloadEvent value) => handler(value);
    }
}
