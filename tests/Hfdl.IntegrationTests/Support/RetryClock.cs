using System.Collections.Concurrent;
using System.Threading.Channels;
using Hfdl.Core.Progress;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.IntegrationTests.Support;

/// <summary>
/// A fake clock for metadata retries: it hears each retry the client reports, waits until the client has armed the
/// back-off timer of exactly that delay, and moves time past it. Timers the client arms for its request timeouts are
/// left alone (they fire only when a test advances the clock on purpose), so no test waits for real.
/// </summary>
public sealed class RetryClock() : FakeTimeProvider(new DateTimeOffset(2025, 3, 7, 12, 0, 0, TimeSpan.Zero)), IProgress<RequestRetrying>
{
    private readonly Channel<TimeSpan> _armed = Channel.CreateUnbounded<TimeSpan>();
    private readonly Channel<RequestRetrying> _retries = Channel.CreateUnbounded<RequestRetrying>();

    /// <summary>Every retry the client reported, in order.</summary>
    public ConcurrentQueue<RequestRetrying> Reported { get; } = new();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _armed.Writer.TryWrite(dueTime);
        }
        return timer;
    }

    public void Report(RequestRetrying value)
    {
        Reported.Enqueue(value);
        _retries.Writer.TryWrite(value);
    }

    /// <summary>Runs <paramref name="work"/>, moving the clock past every back-off it waits for; fails after 60 s of real time.</summary>
    public async Task<T> RunAsync<T>(Task<T> work)
    {
        var deadline = Task.Delay(TimeSpan.FromSeconds(60));
        while (!work.IsCompleted)
        {
            // Waits without taking a report, so none is lost to the next run when this one ends first.
            var reported = _retries.Reader.WaitToReadAsync().AsTask();
            if (await Task.WhenAny(work, reported, deadline) == deadline)
            {
                throw new TimeoutException("The call did not finish within 60 s.");
            }
            while (_retries.Reader.TryRead(out var retry))
            {
                Advance(await WaitForTimerAsync(retry.Delay));
            }
        }
        return await work;
    }

    /// <summary>The next retry the client reports (for tests that move the clock themselves).</summary>
    public async Task<RequestRetrying> NextRetryAsync()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await _retries.Reader.ReadAsync(cancel.Token);
    }

    /// <summary>
    /// Waits until a timer of <paramref name="due"/> is armed (a back-off, or a request's timeout) and returns its exact
    /// due time: a jittered back-off is reported rounded to the millisecond.
    /// </summary>
    public async Task<TimeSpan> WaitForTimerAsync(TimeSpan due)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            while (true)
            {
                var armed = await _armed.Reader.ReadAsync(cancel.Token);
                if ((armed - due).Duration() <= TimeSpan.FromMilliseconds(1))
                {
                    return armed;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No timer of {due} was armed within 60 s.");
        }
    }
}
