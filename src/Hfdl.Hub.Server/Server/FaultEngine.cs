using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections.Features;

namespace Hfdl.Hub.Server;

/// <summary>Decides, per request and file, which limits and faults apply; keeps the counters and the seeded random.</summary>
internal sealed class FaultEngine
{
    private readonly ConditionalWeakTable<HubFaults, FaultRuntime> _runtimes = new();

    private FaultRuntime RuntimeOf(HubFaults faults) => _runtimes.GetValue(faults, f => new FaultRuntime(f));

    /// <summary>
    /// Applies latency, then the 429 and 5xx faults, to a request on <paramref name="target"/>. Returns false when
    /// a fault answered the request.
    /// </summary>
    public async Task<bool> BeforeResponseAsync(HubRequest request, FaultTargets target, bool json, CancellationToken cancellationToken)
    {
        var faults = request.Faults;
        if (faults.Latency > TimeSpan.Zero && faults.LatencyTargets.HasFlag(target)
            && (faults.LatencyMethod is null || string.Equals(faults.LatencyMethod, request.Http.Request.Method, StringComparison.OrdinalIgnoreCase)))
        {
            await Task.Delay(faults.Latency, cancellationToken).ConfigureAwait(false);
        }
        if (!faults.HasStatusFaults)
        {
            return true;
        }
        var runtime = RuntimeOf(faults);
        if (faults.Silence is { } silence && silence.Targets.HasFlag(target)
            && (!silence.RangedOnly || request.Http.Request.Headers.Range.Count > 0)
            && runtime.Strikes(silence, 0, silence.FirstRequests, 0))
        {
            // Hold the request open, saying nothing, until the client hangs up (or the server stops).
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            return false;
        }
        if (faults.TooManyRequests is { } limit && limit.Targets.HasFlag(target) && Matches(request, limit.PathContains)
            && runtime.Strikes(limit, limit.SkipRequests, limit.FirstRequests, limit.Probability))
        {
            var bucket = target == FaultTargets.Api ? "api" : "resolvers";
            var seconds = limit.RetryAfterSeconds;
            request.Response.Headers["RateLimit"] = $"\"{bucket}\";r=0;t={seconds}";
            request.Response.Headers["RateLimit-Policy"] = $"\"fixed window\";\"{bucket}\";q={(bucket == "api" ? 1000 : 3000)};w=300";
            request.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await request.WriteErrorAsync(
                429,
                $"You have been rate-limited; you can retry this action in about {seconds} seconds. (the '{bucket}' quota was reached)",
                null,
                json,
                cancellationToken).ConfigureAwait(false);
            return false;
        }
        if (faults.ServerErrors is { } errors && errors.Targets.HasFlag(target) && Matches(request, errors.PathContains)
            && runtime.Strikes(errors, errors.SkipRequests, errors.FirstRequests, errors.Probability))
        {
            var message = errors.StatusCode switch
            {
                500 => "Internal Error - We're working hard to fix this as soon as possible!",
                502 => "Bad Gateway",
                504 => "Gateway Timeout",
                _ => "Service Unavailable",
            };
            if (errors.RetryAfterSeconds is { } retryAfter)
            {
                request.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            await request.WriteErrorAsync(errors.StatusCode, message, null, json, cancellationToken).ConfigureAwait(false);
            return false;
        }
        return true;
    }

    /// <summary>Counts a request against a "first N requests" fault of <paramref name="faults"/>; true while it strikes.</summary>
    public bool StrikesFirst(HubFaults faults, object fault, int firstRequests) => RuntimeOf(faults).Strikes(fault, 0, firstRequests, 0);

    private static bool Matches(HubRequest request, string? pathContains) =>
        pathContains is null || request.RawPath.Contains(pathContains, StringComparison.Ordinal);

    private static bool AcceptsGzip(HubRequest request) =>
        request.Http.Request.Headers.AcceptEncoding.ToString()
            .Split(',')
            .Select(e => e.Split(';')[0].Trim())
            .Any(e => e.Equals("gzip", StringComparison.OrdinalIgnoreCase));

    /// <summary>Plans one file-body transfer: which faults may strike in it and how it is throttled.</summary>
    public TransferPlan PlanTransfer(HubRequest request, string fileKey, long size)
    {
        var faults = request.Faults;
        var runtime = RuntimeOf(faults);
        TokenBucket? connectionBucket = null;
        if (faults.PerConnectionBytesPerSecond is { } perConnection)
        {
            var items = request.Http.Features.Get<IConnectionItemsFeature>()?.Items;
            var key = "hfdl.bucket." + perConnection;
            if (items is null)
            {
                connectionBucket = new TokenBucket(perConnection);
            }
            else if (items.TryGetValue(key, out var existing) && existing is TokenBucket bucket)
            {
                connectionBucket = bucket;
            }
            else
            {
                items[key] = connectionBucket = new TokenBucket(perConnection);
            }
        }
        var globalBucket = faults.GlobalBytesPerSecond is not null ? runtime.GlobalBucket : null;
        var slowest = Math.Min(faults.PerConnectionBytesPerSecond ?? long.MaxValue, faults.GlobalBytesPerSecond ?? long.MaxValue);
        return new TransferPlan(runtime, fileKey)
        {
            IgnoreRange = faults.IgnoreRange,
            Gzip = faults.GzipWhenAccepted && size > 0 && AcceptsGzip(request),
            // A HEAD shows the wrong length too, but does not spend a once-per-file fault meant for the body.
            ContentLengthDelta = faults.WrongContentLength is { } wrong
                && (request.IsHead ? wrong.Repeat != FaultRepeat.OncePerFile : runtime.StrikesNow(wrong, wrong.Repeat, wrong.Probability, fileKey))
                ? wrong.Delta
                : 0,
            Drop = faults.DropConnection is { } drop && runtime.Planned(drop.Repeat, drop.Probability) ? drop : null,
            Stall = faults.Stall is { } stall && runtime.Planned(stall.Repeat, stall.Probability) ? stall : null,
            Corrupt = faults.Corrupt is { } corrupt && runtime.Planned(corrupt.Repeat, corrupt.Probability) ? corrupt : null,
            ConnectionBucket = connectionBucket,
            GlobalBucket = globalBucket,
            // Throttled bodies go out in pieces of at most a twentieth of a second (and 256 KiB) so that bytes flow steadily
            // instead of in bursts, without a timer and a write per few KB costing the hub the CPU its clients need.
            MaxChunk = slowest == long.MaxValue ? int.MaxValue : (int)Math.Clamp(slowest / 20, 1024, 256 * 1024),
        };
    }
}

/// <summary>The state of one <see cref="HubFaults"/> instance: its random, counters and shared bucket.</summary>
internal sealed class FaultRuntime(HubFaults faults)
{
    private readonly Lock _gate = new();
    private readonly Random _random = new(faults.Seed);
    private readonly Dictionary<object, int> _counts = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<(object, string)> _spent = [];

    public TokenBucket GlobalBucket { get; } = new(faults.GlobalBytesPerSecond ?? long.MaxValue);

    /// <summary>For "let K requests through, fail the next N, then with probability p" faults.</summary>
    public bool Strikes(object fault, int skipRequests, int firstRequests, double probability)
    {
        lock (_gate)
        {
            var count = _counts[fault] = _counts.GetValueOrDefault(fault) + 1;
            if (count <= skipRequests)
            {
                return false;
            }
            return count - skipRequests <= firstRequests || (probability > 0 && _random.NextDouble() < probability);
        }
    }

    /// <summary>Whether a body fault is armed for a transfer (once-per-file faults are armed, and spent when they fire).</summary>
    public bool Planned(FaultRepeat repeat, double probability)
    {
        if (repeat != FaultRepeat.Random)
        {
            return true;
        }
        lock (_gate)
        {
            return _random.NextDouble() < probability;
        }
    }

    /// <summary>For faults decided when the transfer starts: a once-per-file fault is spent here.</summary>
    public bool StrikesNow(object fault, FaultRepeat repeat, double probability, string fileKey) =>
        repeat == FaultRepeat.OncePerFile ? TrySpend(fault, fileKey) : Planned(repeat, probability);

    /// <summary>True the first time a fault fires for a file.</summary>
    public bool TrySpend(object fault, string fileKey)
    {
        lock (_gate)
        {
            return _spent.Add((fault, fileKey));
        }
    }
}

/// <summary>What happens to one body transfer.</summary>
internal sealed class TransferPlan(FaultRuntime runtime, string fileKey)
{
    private bool _dropHandled;
    private bool _stallHandled;

    public bool IgnoreRange { get; init; }

    /// <summary>Gzip the body (chunked, no Content-Length, Range ignored).</summary>
    public bool Gzip { get; init; }

    /// <summary>Added to the true Content-Length: positive promises bytes that never come, negative cuts the body short.</summary>
    public long ContentLengthDelta { get; init; }

    public DropConnectionFault? Drop { get; init; }

    public StallFault? Stall { get; init; }

    public CorruptionFault? Corrupt { get; init; }

    public TokenBucket? ConnectionBucket { get; init; }

    public TokenBucket? GlobalBucket { get; init; }

    public int MaxChunk { get; init; } = int.MaxValue;

    /// <summary>Shrinks a chunk so that it ends at the next fault point; 0 means "at a fault point now".</summary>
    public int ClampChunk(long sent, int want)
    {
        want = Math.Min(want, MaxChunk);
        foreach (var (point, handled) in new[] { (Drop?.AfterBytes, _dropHandled), (Stall?.AfterBytes, _stallHandled) })
        {
            if (point is { } at && !handled && at >= sent)
            {
                want = (int)Math.Min(want, at - sent);
            }
        }
        return want;
    }

    /// <summary>Handles the fault at <paramref name="sent"/> bytes; false means "stop sending".</summary>
    public async Task<bool> AtFaultPointAsync(HubRequest request, long sent, CancellationToken cancellationToken)
    {
        if (Drop is { } drop && !_dropHandled && drop.AfterBytes == sent)
        {
            _dropHandled = true;
            if (drop.Repeat != FaultRepeat.OncePerFile || runtime.TrySpend(drop, fileKey))
            {
                // End the response short of its Content-Length: Kestrel sends what was written, then closes the
                // connection, so the client sees exactly AfterBytes and then a premature end of the body.
                // (HttpContext.Abort would also drop bytes still queued in Kestrel's output pipe.)
                await request.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                request.Aborted = true;
                return false;
            }
            return true;
        }
        if (Stall is { } stall && !_stallHandled && stall.AfterBytes == sent)
        {
            _stallHandled = true;
            if (stall.Repeat != FaultRepeat.OncePerFile || runtime.TrySpend(stall, fileKey))
            {
                await request.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                await Task.Delay(stall.Duration ?? Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            }
            return true;
        }
        return true;
    }

    /// <summary>Corrupts the chunk that starts at file offset <paramref name="offset"/>, when the fault says so.</summary>
    public void Mutate(long offset, Span<byte> chunk)
    {
        if (Corrupt is { } corrupt && corrupt.Offset >= offset && corrupt.Offset < offset + chunk.Length
            && (corrupt.Repeat != FaultRepeat.OncePerFile || runtime.TrySpend(corrupt, fileKey)))
        {
            chunk[(int)(corrupt.Offset - offset)] ^= corrupt.Mask;
        }
    }

    public async ValueTask ThrottleAsync(int bytes, CancellationToken cancellationToken)
    {
        var wait = TimeSpan.Zero;
        if (ConnectionBucket is not null)
        {
            wait = ConnectionBucket.Reserve(bytes);
        }
        if (GlobalBucket is not null)
        {
            var global = GlobalBucket.Reserve(bytes);
            wait = global > wait ? global : wait;
        }
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// A token bucket that lends: a caller takes its bytes at once and waits off the debt, so concurrent callers share
/// the rate fairly in arrival order. The burst is a twentieth of a second's worth.
/// </summary>
internal sealed class TokenBucket
{
    private readonly Lock _gate = new();
    private readonly double _rate;
    private readonly double _burst;
    private double _tokens;
    private long _last = Stopwatch.GetTimestamp();

    public TokenBucket(long bytesPerSecond)
    {
        _rate = bytesPerSecond;
        _burst = Math.Max(bytesPerSecond / 20.0, 1024);
        _tokens = _burst;
    }

    public TimeSpan Reserve(int bytes)
    {
        lock (_gate)
        {
            var now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + (Stopwatch.GetElapsedTime(_last, now).TotalSeconds * _rate));
            _last = now;
            _tokens -= bytes;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _rate);
        }
    }
}
