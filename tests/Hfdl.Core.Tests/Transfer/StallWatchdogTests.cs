using Hfdl.Core.Transfer;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.Core.Tests.Transfer;

/// <summary>The read timeout of a transfer, on a fake clock: silence and a trickle both end it; a slow but real transfer does not.</summary>
public sealed class StallWatchdogTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Reads <paramref name="bytesPerSecond"/> for <paramref name="seconds"/>, one read a second; true when the watchdog fired.</summary>
    private static bool Fires(long bytesPerSecond, int seconds)
    {
        var time = new FakeTimeProvider();
        using var source = new CancellationTokenSource(Timeout, time);
        var watchdog = new StallWatchdog(source, Timeout, time);
        var received = 0L;
        watchdog.Arm(received);
        for (var second = 0; second < seconds && !source.IsCancellationRequested; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            received += bytesPerSecond;
            watchdog.Arm(received);
        }
        return source.IsCancellationRequested;
    }

    [Fact]
    public void Silence_ends_the_transfer_after_the_timeout() => Assert.True(Fires(bytesPerSecond: 0, seconds: 31));

    [Fact]
    public void A_trickle_of_a_byte_a_second_ends_it_too_instead_of_holding_the_download_for_ever()
    {
        Assert.True(Fires(bytesPerSecond: 1, seconds: 31));
        Assert.True(Fires(bytesPerSecond: 30, seconds: 31));
    }

    [Fact]
    public void A_slow_link_that_brings_a_kilobyte_within_the_timeout_goes_on()
    {
        Assert.False(Fires(bytesPerSecond: 40, seconds: 600));
        Assert.False(Fires(bytesPerSecond: 10_000_000, seconds: 600));
    }

    [Fact]
    public void The_message_tells_silence_from_a_trickle()
    {
        var time = new FakeTimeProvider();
        using var source = new CancellationTokenSource(Timeout, time);
        var watchdog = new StallWatchdog(source, Timeout, time);
        watchdog.Arm(0);

        Assert.Equal("no data", watchdog.Shortfall(0));
        Assert.Equal("only 29 bytes", watchdog.Shortfall(29));
        // A burst right after the timer was armed, then silence: the timer ran out on the silence.
        Assert.Equal("no data", watchdog.Shortfall(1_500_000));
    }
}
