using System.Collections.Concurrent;

namespace Hfdl.Hub.Server;

/// <summary>One request as a listener saw it, recorded when its response ended (or was aborted).</summary>
/// <param name="Listener"><c>"hub"</c>, <c>"cdn"</c> (plain-HTTPS bridge and xorb ranges) or <c>"cas"</c> (Xet reconstructions).</param>
/// <param name="PathAndQuery">The request target exactly as received (still percent-encoded).</param>
/// <param name="Authorization">The raw <c>Authorization</c> header, so tests can assert that a token never leaked.</param>
/// <param name="BodyBytesSent">Response body bytes written (what the client could have fetched; before compression).</param>
public sealed record RecordedRequest(
    string Listener,
    string Method,
    string PathAndQuery,
    string? Authorization,
    string? Range,
    int StatusCode,
    long BodyBytesSent)
{
    /// <summary>True when the server cut the connection on purpose (a fault) or the client went away.</summary>
    public bool Aborted { get; init; }

    /// <summary>Every request header as received (name to comma-joined values), e.g. to check <c>Accept-Encoding</c>.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

/// <summary>A thread-safe record of every request the listeners received.</summary>
/// <param name="capacity">The most requests kept (the latest).</param>
/// <param name="redact">
/// For a server facing real clients (<c>hfdl serve</c>): no token is kept (the <c>Authorization</c> value is replaced
/// by whether there was one), and header values are cut to <see cref="RedactedHeaderLength"/> characters, so the log
/// neither holds secrets in memory nor grows with what clients choose to send.
/// </param>
public sealed class HubRequestLog(int capacity = int.MaxValue, bool redact = false)
{
    /// <summary>The most characters of a header value a redacting log keeps.</summary>
    public const int RedactedHeaderLength = 256;

    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private int _inFlight;
    private int _peakInFlight;

    public int Count => _requests.Count;

    /// <summary>Requests received whose response has not ended yet (they are recorded when it does).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Waits until every request received so far has ended and is recorded (a client that was killed leaves
    /// responses that end only when the server notices). Checks every 20 ms; fails after <paramref name="timeout"/>.
    /// </summary>
    public async Task WaitUntilIdleAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (InFlight > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{InFlight} requests were still in flight after {timeout}.");
            }
            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    /// <summary>The most requests in flight at once since the last <see cref="Clear"/>: a client's connection count.</summary>
    public int PeakInFlight => Volatile.Read(ref _peakInFlight);

    internal void Started()
    {
        var now = Interlocked.Increment(ref _inFlight);
        var peak = Volatile.Read(ref _peakInFlight);
        while (now > peak)
        {
            var seen = Interlocked.CompareExchange(ref _peakInFlight, now, peak);
            if (seen == peak)
            {
                break;
            }
            peak = seen;
        }
    }

    internal void Ended() => Interlocked.Decrement(ref _inFlight);

    public IReadOnlyList<RecordedRequest> Snapshot() => [.. _requests];

    /// <summary>
    /// Forgets every recorded request, once the requests still in flight have ended (at most 10 s), so none of them is
    /// recorded after the clear and counted against what comes next.
    /// </summary>
    public void Clear()
    {
        SpinWait.SpinUntil(() => InFlight == 0, TimeSpan.FromSeconds(10));
        _requests.Clear();
        Volatile.Write(ref _peakInFlight, 0);
    }

    /// <summary>Body bytes sent for all recorded requests (what clients fetched).</summary>
    public long TotalBodyBytesSent => _requests.Sum(r => r.BodyBytesSent);

    /// <summary>
    /// Waits until a recorded request matches (requests are recorded when their response ends, which for an aborted
    /// or stalled transfer is after the client saw the failure).
    /// </summary>
    public async Task<RecordedRequest> WaitForAsync(Func<RecordedRequest, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                changed = _changed.Task;
            }
            if (_requests.FirstOrDefault(predicate) is { } match)
            {
                return match;
            }
            try
            {
                await changed.WaitAsync(timeoutSource.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"No matching request was recorded within {timeout}.");
            }
        }
    }

    internal void Add(RecordedRequest request)
    {
        if (redact)
        {
            request = request with
            {
                Authorization = request.Authorization is null ? null : "(redacted)",
                Headers = request.Headers
                    .Where(h => !h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && !h.Key.Equals("Cookie", StringComparison.OrdinalIgnoreCase))
                    .ToDictionary(h => h.Key, h => h.Value.Length > RedactedHeaderLength ? h.Value[..RedactedHeaderLength] : h.Value, StringComparer.OrdinalIgnoreCase),
            };
        }
        _requests.Enqueue(request);
        while (_requests.Count > capacity && _requests.TryDequeue(out _))
        {
            // A long-running server keeps the latest requests only.
        }
        TaskCompletionSource changed;
        lock (_gate)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
