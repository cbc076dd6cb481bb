using System.Net;
using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Polly;
using Polly.Retry;

namespace Hfdl.Core.Transfer;

/// <summary>A transfer delivered no bytes for longer than the read timeout.</summary>
internal sealed class TransferStalledException(string path, TimeSpan timeout, string what = "no data")
    : HfdlException($"The transfer of '{path}' received {what} for {timeout.TotalSeconds:0.#} s.");

/// <summary>A signed CDN URL was refused (usually expired); resolving the file again through the Hub fixes it.</summary>
internal sealed class ExpiredDownloadUrlException(string path, HttpStatusCode status)
    : HfdlException($"The download URL of '{path}' was refused with {(int)status} (signed URLs expire; hfdl asks the Hub for a new one before each retry).");

/// <summary>The server's body did not match what it announced; retried, since the next attempt may be clean.</summary>
internal sealed class TruncatedBodyException(string message) : HfdlException(message);

/// <summary>Which failures are worth another attempt (hub-api.md §5.3).</summary>
internal static class TransientFaults
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        OperationCanceledException => false,
        TransferStalledException or ExpiredDownloadUrlException or TruncatedBodyException => true,
        HubUnreachableException => true,
        RateLimitedException => true,
        HubException hub => (int?)hub.StatusCode is 408 or 429 or 500 or 502 or 503 or 504,
        HttpRequestException or IOException => !IsDiskFull(exception),
        _ => false,
    };

    /// <summary>ENOSPC (28) or EDQUOT (122) on Linux, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows.</summary>
    public static bool IsDiskFull(Exception exception) =>
        exception is IOException io && (io.HResult & 0xFFFF) is 28 or 122 or 0x70 or 0x27;

    /// <summary>The file path a retried operation works on, for the <see cref="FileRetrying"/> report.</summary>
    public static readonly ResiliencePropertyKey<string> PathKey = new("hfdl.path");

    /// <summary>
    /// Exponential backoff with jitter (Polly) for transient faults, honouring a 429's <c>RateLimit</c>/<c>Retry-After</c>,
    /// and reporting each retry as progress.
    /// </summary>
    public static ResiliencePipeline CreateRetryPipeline(DownloadOptions options, IProgress<DownloadEvent>? progress) => options.MaxRetries < 1
        ? ResiliencePipeline.Empty // Polly wants at least one retry
        : new ResiliencePipelineBuilder { TimeProvider = options.Time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                DelayGenerator = args => ValueTask.FromResult(SuggestedDelay(args.Outcome.Exception)),
                OnRetry = args =>
                {
                    var path = args.Context.Properties.TryGetValue(PathKey, out var p) ? p : "?";
                    progress?.Report(new FileRetrying(path, args.AttemptNumber + 1, Describe(args.Outcome.Exception), args.RetryDelay)
                    {
                        Unreachable = args.Outcome.Exception is HubUnreachableException,
                        ServerStatus = ServerStatus(args.Outcome.Exception),
                    });
                    return default;
                },
            })
            .Build();

    /// <summary>
    /// A failure's message for a user: .NET's HTTP I/O errors end with their error code's name ("... expected.
    /// (ResponseEnded)"), which says nothing to a user, and is left out.
    /// </summary>
    public static string Describe(Exception? exception) => exception switch
    {
        null => "failed",
        HttpIOException io when io.Message.EndsWith($" ({io.HttpRequestError})", StringComparison.Ordinal) => io.Message[..^($" ({io.HttpRequestError})".Length)],
        _ => exception.Message,
    };

    /// <summary>The status of a server's error answer that is worth another attempt (a 5xx, or 429); null for other failures.</summary>
    public static int? ServerStatus(Exception? exception) =>
        exception is HubException { StatusCode: { } status } && ((int)status >= 500 || (int)status == 429) ? (int)status : null;

    public static TimeSpan? SuggestedDelay(Exception? exception) => exception switch
    {
        HubException { RetryAfter: { } wait } => wait,
        _ => null,
    };
}

/// <summary>
/// Cancels a transfer that receives less than <see cref="MinimumProgress"/> bytes within the read timeout: nothing at
/// all, or a trickle (a server sending a byte a second re-armed a watchdog fed by any byte for ever). Re-arming a timer
/// on every read costs more than the read on a fast link, so it is re-armed at most a few times per timeout.
/// <c>source</c> is created on <c>time</c> (<c>new CancellationTokenSource(timeout, time)</c>), so the whole timeout
/// runs on the injected clock.
/// </summary>
internal sealed class StallWatchdog(CancellationTokenSource source, TimeSpan timeout, TimeProvider time)
{
    /// <summary>What a transfer must receive within the timeout to count as alive: about 34 bytes a second at 30 s.</summary>
    public const long MinimumProgress = 1024;

    private readonly long _rearmTicks = (long)(time.TimestampFrequency * Math.Min(1.0, timeout.TotalSeconds / 4));
    private long _armedAt = long.MinValue;
    private long _armedReceived;

    /// <summary>Arms the timer at the first call; re-arms it once <paramref name="received"/> (bytes so far) grew by <see cref="MinimumProgress"/>.</summary>
    public void Arm(long received)
    {
        var now = time.GetTimestamp();
        if (_armedAt == long.MinValue || (now - _armedAt >= _rearmTicks && received - _armedReceived >= MinimumProgress))
        {
            _armedAt = now;
            _armedReceived = received;
            source.CancelAfter(timeout);
        }
    }

    /// <summary>What the timer ran out on, for the message: "no data", or the trickle received since it was armed.</summary>
    public string Shortfall(long received) => received - _armedReceived is > 0 and < MinimumProgress ? $"only {received - _armedReceived} bytes" : "no data";
}
