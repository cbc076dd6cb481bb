namespace Hfdl.Core.Transfer;

/// <summary>
/// One token bucket shared by every connection and file (<c>--max-speed</c>). A reader takes tokens for the bytes it
/// just received; when the bucket runs dry it waits for the deficit to refill, which slows its socket reads and so,
/// through TCP flow control, the sender. The bucket holds at most a tenth of a second of traffic, so bursts stay small.
/// </summary>
internal sealed class BandwidthLimiter
{
    private readonly double _bytesPerSecond;
    private readonly double _capacity;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private double _tokens;
    private long _lastRefill;

    public BandwidthLimiter(double bytesPerSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        _bytesPerSecond = bytesPerSecond;
        _capacity = Math.Max(64 * 1024, bytesPerSecond / 10);
        _time = time;
        _tokens = _capacity;
        _lastRefill = time.GetTimestamp();
    }

    public double BytesPerSecond => _bytesPerSecond;

    /// <summary>Accounts for <paramref name="bytes"/> just received, waiting if the shared budget is spent.</summary>
    public Task ConsumeAsync(int bytes, CancellationToken cancellationToken)
    {
        TimeSpan wait;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_capacity, _tokens + (_time.GetElapsedTime(_lastRefill, now).TotalSeconds * _bytesPerSecond));
            _lastRefill = now;
            _tokens -= bytes;
            if (_tokens >= 0)
            {
                return Task.CompletedTask;
            }
            // Going into debt and sleeping it off keeps the order fair: whoever took the last tokens waits longest.
            wait = TimeSpan.FromSeconds(-_tokens / _bytesPerSecond);
        }
        return Task.Delay(wait, _time, cancellationToken);
    }
}
