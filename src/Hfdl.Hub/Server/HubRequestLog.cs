using System.Collections.Concurrent;

namespace Hfdl.Hub.Server;

/// <summary>One request as a listener saw it, recorded when its response ended (or was aborted).</summary>
/// <param name="Listener"><c>"hub"</c> or <c>"cdn"</c>.</param>
/// <param name="PathAndQuery">The request target exactly as received (still percent-encoded).</param>
/// <param name="Authorization">The raw <c>Authorization</c> header, so tests can assert that a token never leaked.</param>
/// <param name="BodyBytesSent">Response body bytes written (what the client could have fetched).</param>
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
}

/// <summary>A thread-safe record of every request both listeners received.</summary>
public sealed class HubRequestLog
{
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private int _inFlight;

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

    internal void Started() => Interlocked.Increment(ref _inFlight);

    internal void Ended() => Interlocked.Decrement(ref _inFlight);

    public IReadOnlyList<RecordedRequest> Snapshot() => [.. _requests];

    public void Clear() => _requests.Clear();

    /// <summary>Body bytes sent for all recorded requests (what clients fetched).</summary>
    public long TotalBodyBytesSent => _requests.Sum(r => r.BodyBytesSent);

    internal void Add(RecordedRequest request) => _requests.Enqueue(request);
}
