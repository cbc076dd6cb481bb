namespace Hfdl.Transfer;

/// <summary>How the engine downloads. Immutable; every value has a documented default.</summary>
public sealed record DownloadOptions
{
    /// <summary>
    /// Parallel transfers. Default: I/O-bound work wants more workers than cores, so 8 per core with one core's worth
    /// left for the rest of the system, at least 8 and at most 32.
    /// </summary>
    public int Threads { get; init; } = DefaultThreads(Environment.ProcessorCount);

    /// <summary>Files at or above this size (bytes) are "big" and go after the small ones. Default 200 MB.</summary>
    public long BigFileThreshold { get; init; } = 200L * 1000 * 1000;

    /// <summary>Transient failures (connection lost, 5xx, 429, stalls) tried again per file, with backoff. Default 5.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>First backoff delay; doubles with jitter up to <see cref="MaxRetryDelay"/>. Default 1 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest backoff delay (a 429's Retry-After may ask for longer, and is obeyed). Default 8 s.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Smallest interval between two progress reports of one file. Default 100 ms.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Preferred segment size for big files, bytes (<c>--chunk-size</c>); smaller when a file needs more segments to keep every connection busy. Default 32 MiB.</summary>
    public long ChunkSize { get; init; } = 32L * 1024 * 1024;

    /// <summary>A connection must carry at least this many bytes per second or it is shed (<c>--min-speed-per-thread</c>). Default 3 MB/s.</summary>
    public double MinSpeedPerConnection { get; init; } = 3_000_000;

    /// <summary>Longest speed test on the first big file before adding connections; it ends early once the rate is stable. Default 5 s.</summary>
    public TimeSpan SpeedTestDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Aggregate cap in bytes per second over all connections and files (<c>--max-speed</c>); null for none.</summary>
    public double? MaxBytesPerSecond { get; init; }

    /// <summary>Signed download URLs of big files are resolved again after this long, before they expire. Default 20 min.</summary>
    public TimeSpan UrlRefreshInterval { get; init; } = TimeSpan.FromMinutes(20);

    /// <summary>How often the journal of partially downloaded big files is flushed and saved. Default 2 s.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(2);

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public static int DefaultThreads(int processorCount) => Math.Clamp((processorCount - 1) * 8, 8, 32);

    internal void Validate()
    {
        if (Threads is < 1 or > 256)
        {
            throw new UsageException($"--threads must be between 1 and 256 (got {Threads}).");
        }
        if (BigFileThreshold < 0)
        {
            throw new UsageException("--file-size-threshold must not be negative.");
        }
        if (ChunkSize < 64 * 1024)
        {
            throw new UsageException("--chunk-size must be at least 65536 bytes.");
        }
        if (MinSpeedPerConnection < 0)
        {
            throw new UsageException("--min-speed-per-thread must not be negative.");
        }
        if (SpeedTestDuration < TimeSpan.Zero)
        {
            throw new UsageException("--speed-test-duration must not be negative.");
        }
        if (MaxBytesPerSecond is <= 0)
        {
            throw new UsageException("--max-speed must be more than 0 MB/s.");
        }
    }
}

/// <summary>What to download and where.</summary>
public sealed record DownloadRequest
{
    public required Hub.RepoType RepoType { get; init; }

    public required Hub.RepoId RepoId { get; init; }

    /// <summary>Branch, tag, commit or <c>refs/pr/N</c>; null means <c>main</c>.</summary>
    public string? Revision { get; init; }

    /// <summary>Only these paths (a trailing <c>/</c> selects a folder); empty means the whole repo.</summary>
    public IReadOnlyList<string> Files { get; init; } = [];

    /// <summary>Keep only files matching one of these fnmatch patterns (<c>--include</c>); empty keeps every file.</summary>
    public IReadOnlyList<string> Include { get; init; } = [];

    /// <summary>Drop files matching one of these fnmatch patterns (<c>--exclude</c>).</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>The folder the repo's files go into (its root).</summary>
    public required string TargetFolder { get; init; }
}
