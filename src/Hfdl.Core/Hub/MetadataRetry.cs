using Hfdl.Core.Progress;
using Hfdl.Core.Transfer;
using Polly;
using Polly.Retry;

namespace Hfdl.Core.Hub;

/// <summary>
/// How metadata calls are tried again, as huggingface_hub's <c>http_backoff</c> does (hub-api.md §5.3): after a 408,
/// 429, 500, 502, 503 or 504, a timeout or a connection cut part-way; at most <see cref="HubClientOptions.MaxRetries"/>
/// times, waiting 1, 2, 4, 8, 8 s (with jitter) or what the server's <c>RateLimit</c> / <c>Retry-After</c> asks.
/// The budget is per request: each page of a listing has its own, as each file of a download has.
/// </summary>
internal static class MetadataRetry
{
    /// <summary>Which request is retried, in words, for the <see cref="RequestRetrying"/> report.</summary>
    public static readonly ResiliencePropertyKey<string> RequestKey = new("hfdl.request");

    /// <summary>
    /// A host that does not resolve, a refused connection or a bad certificate is not retried: it is a wrong endpoint
    /// or network setup, and the user should hear about it at once.
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        HubUnreachableException unreachable => unreachable.IsTransient,
        _ => TransientFaults.IsTransient(exception),
    };

    /// <summary>The retry pipeline of <paramref name="options"/>; with no retries (Polly wants at least one), an empty one.</summary>
    public static ResiliencePipeline Create(HubClientOptions options) => options.MaxRetries < 1
        ? ResiliencePipeline.Empty
        : new ResiliencePipelineBuilder { TimeProvider = options.Time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                DelayGenerator = args => ValueTask.FromResult(TransientFaults.SuggestedDelay(args.Outcome.Exception)),
                OnRetry = args =>
                {
                    var request = args.Context.Properties.TryGetValue(RequestKey, out var what) ? what : "a request to the Hub";
                    options.Retries?.Report(new RequestRetrying(request, args.AttemptNumber + 1, args.Outcome.Exception?.Message ?? "failed", args.RetryDelay));
                    return default;
                },
            })
            .Build();

    /// <summary>Runs <paramref name="attempt"/> under <paramref name="pipeline"/>, naming it <paramref name="request"/> in retry reports.</summary>
    public static async Task<T> RunAsync<T>(ResiliencePipeline pipeline, string request, Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(RequestKey, request);
        try
        {
            return await pipeline.ExecuteAsync(
                static async (ctx, run) => await run(ctx.CancellationToken).ConfigureAwait(false),
                context,
                attempt).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}

/// <summary>
/// A token cancelled by the caller, or when <paramref name="timeout"/> has passed on <paramref name="time"/> (the
/// client's clock, so tests bound requests on a fake one).
/// </summary>
internal sealed class Deadline(TimeProvider time, TimeSpan timeout, CancellationToken cancellationToken) : IDisposable
{
    private readonly CancellationTokenSource _timer = new(timeout, time);
    private CancellationTokenSource? _linked;

    public CancellationToken Token => (_linked ??= CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timer.Token)).Token;

    public void Dispose()
    {
        _linked?.Dispose();
        _timer.Dispose();
    }
}
