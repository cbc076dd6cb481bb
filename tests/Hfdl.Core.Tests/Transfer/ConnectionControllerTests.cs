using Hfdl.Core.Transfer;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.Core.Tests.Transfer;

/// <summary>The speed test and adaptive connection count, on a fake clock against a simulated link.</summary>
public sealed class ConnectionControllerTests
{
    private const double MB = 1_000_000;
    private readonly FakeTimeProvider _time = new();

    /// <summary>
    /// Runs the controller for <paramref name="seconds"/> against a link where each connection carries at most
    /// <paramref name="perConnection"/> and all together at most <paramref name="total"/> bytes per second.
    /// </summary>
    private List<int> Simulate(ConnectionController controller, double perConnection, double total, double seconds, Func<int, double>? noise = null)
    {
        var targets = new List<int>();
        var step = TimeSpan.FromMilliseconds(100);
        for (var tick = 0; tick < (int)Math.Round(seconds * 10); tick++)
        {
            var active = controller.Target;
            var rate = Math.Min(active * perConnection, total) * (noise?.Invoke(tick) ?? 1.0);
            _time.Advance(step);
            controller.AddBytes((long)(rate * step.TotalSeconds));
            controller.Tick(active, active);
            targets.Add(controller.Target);
        }
        return targets;
    }

    /// <summary>
    /// Like <see cref="Simulate"/>, in 25 ms ticks, but a connection delivers only <paramref name="connectDelay"/> after
    /// it was opened (TCP and TLS handshakes and a round trip to a far CDN).
    /// </summary>
    private List<int> SimulateWithConnectDelay(ConnectionController controller, double perConnection, double total, TimeSpan connectDelay, double seconds)
    {
        var targets = new List<int>();
        var opened = new List<TimeSpan>(); // when each open connection started
        var step = TimeSpan.FromMilliseconds(25);
        var now = TimeSpan.Zero;
        for (var tick = 0; tick < (int)Math.Round(seconds / step.TotalSeconds); tick++)
        {
            while (opened.Count < controller.Target)
            {
                opened.Add(now);
            }
            if (opened.Count > controller.Target)
            {
                opened.RemoveRange(controller.Target, opened.Count - controller.Target);
            }
            _time.Advance(step);
            now += step;
            var delivering = opened.Count(start => now - start > connectDelay);
            var rate = Math.Min(delivering * perConnection, total);
            controller.AddBytes((long)(rate * step.TotalSeconds));
            controller.Tick(opened.Count, delivering);
            targets.Add(controller.Target);
        }
        return targets;
    }

    [Fact]
    public void Connections_that_take_long_to_connect_do_not_make_a_step_look_unprofitable()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        // 300 ms before a new connection delivers: a fixed settling time shorter than that judged the step on the old
        // connections alone and stopped far below what the link needs.
        var targets = SimulateWithConnectDelay(controller, perConnection: 25 * MB, total: 500 * MB, TimeSpan.FromMilliseconds(300), seconds: 6);

        var seen = string.Join(",", targets);
        Assert.True(controller.Target * 25 * MB >= 500 * MB, $"{controller.Target} connections of 25 MB/s cannot fill 500 MB/s: {seen}");
        Assert.InRange(controller.Target, 20, 32);
        // One step at a time up to the line rate, each judged once its connections deliver: no step taken back, and
        // the line rate within ~1 s (the first connection alone takes 0.4 s to deliver and be tested).
        var reached = targets.FindIndex(t => t * 25 * MB >= 500 * MB);
        Assert.InRange(reached * 0.025, 0, 1.2);
        Assert.True(targets.Take(reached).Zip(targets.Skip(1).Take(reached)).All(p => p.Second >= p.First), $"a step was taken back on the way up: {seen}");
    }

    [Fact]
    public void During_the_ramp_requests_are_sized_for_what_one_connection_carried_not_for_the_rate_spread_thin()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        SimulateWithConnectDelay(controller, perConnection: 25 * MB, total: 500 * MB, TimeSpan.FromMilliseconds(300), seconds: 0.6);

        // Eight connections opened after the speed test, only the first delivers yet: 25 MB/s shared by 8 would be
        // ~3 MB/s and 1.5 MB requests; what a connection carries is 25.
        Assert.Equal(8, controller.Target);
        Assert.InRange(controller.PerConnectionRate, 20 * MB, 30 * MB);
    }

    [Fact]
    public void A_stable_rate_ends_the_speed_test_long_before_its_duration()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        var targets = Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 1.5);

        Assert.Equal(1, targets[0]);
        Assert.True(targets.Take(10).Any(t => t > 1), $"still on one connection after 1 s: {string.Join(",", targets)}");
    }

    [Fact]
    public void Connections_are_added_until_a_capped_cdn_reaches_the_link_rate()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        var targets = Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 6);

        Assert.True(controller.Target * 25 * MB >= 500 * MB, $"{controller.Target} connections of 25 MB/s cannot fill 500 MB/s");
        Assert.True(controller.Target <= 64);
        var reached = targets.FindIndex(t => t * 25 * MB >= 500 * MB);
        Assert.True(reached is >= 0 and <= 20, $"the line rate was reached only after {reached / 10.0} s: {string.Join(",", targets)}");
    }

    [Fact]
    public void At_the_knee_it_keeps_about_what_the_link_needs_not_the_maximum()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 6);

        // 500 MB/s at 25 MB/s per connection needs 20; a quarter more is kept as headroom, 64 would only cost CPU.
        Assert.InRange(controller.Target, 20, 32);
    }

    [Fact]
    public void A_second_connection_that_a_low_first_reading_made_look_useful_is_dropped_after_a_probe()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        // One connection fills the link (700 MB/s), but its first 300 ms read 25% low, as a cold start does.
        var targets = Simulate(controller, perConnection: 700 * MB, total: 700 * MB, seconds: 4, noise: tick => tick < 3 ? 0.75 : 1.0);

        Assert.Contains(2, targets); // the ramp did keep a second connection at first
        Assert.Equal(1, controller.Target);
    }

    [Fact]
    public void A_probe_that_loses_rate_restores_the_connections()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        // 40 MB/s per connection, 100 MB/s in all: the ramp keeps 4; 2 would carry only 80.
        var targets = Simulate(controller, perConnection: 40 * MB, total: 100 * MB, seconds: 5);

        Assert.Contains(2, targets); // the probe happened
        Assert.Equal(4, controller.Target);
    }

    [Fact]
    public void More_connections_that_bring_nothing_are_taken_back()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);

        Simulate(controller, perConnection: 60 * MB, total: 60 * MB, seconds: 6);

        Assert.Equal(1, controller.Target);
    }

    [Fact]
    public void The_upper_bound_is_the_thread_count()
    {
        var controller = new ConnectionController(8, 3 * MB, TimeSpan.FromSeconds(5), _time);

        var targets = Simulate(controller, perConnection: 10 * MB, total: 10_000 * MB, seconds: 6);

        Assert.All(targets, t => Assert.True(t <= 8));
        Assert.Equal(8, controller.Target);
    }

    [Fact]
    public void Connections_whose_share_falls_below_the_minimum_are_shed()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);
        Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 6);
        var before = controller.Target;

        // The link degrades: 40 MB/s for everyone together, far below 3 MB/s per connection.
        Simulate(controller, perConnection: 25 * MB, total: 40 * MB, seconds: 4);

        Assert.True(controller.Target < before, $"still {controller.Target} connections");
        Assert.True(40 * MB / controller.Target >= 3 * MB, $"{controller.Target} connections share 40 MB/s below 3 MB/s each");
    }

    [Fact]
    public void After_an_outage_shed_every_connection_the_count_comes_back_when_the_link_does()
    {
        var controller = new ConnectionController(64, 0.5 * MB, TimeSpan.FromSeconds(5), _time);
        Simulate(controller, perConnection: 2.5 * MB, total: 20 * MB, seconds: 6);
        var before = controller.Target;

        Simulate(controller, perConnection: 2.5 * MB, total: 0, seconds: 3); // the servers restart
        var during = controller.Target;
        Simulate(controller, perConnection: 2.5 * MB, total: 20 * MB, seconds: 6);

        Assert.True(before >= 8, $"only {before} connections before the outage");
        Assert.Equal(1, during);
        Assert.True(controller.Target >= 8, $"still {controller.Target} connections after the link came back");
    }

    [Fact]
    public void When_a_competing_download_ends_the_shed_connections_come_back()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);
        Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 6);
        Simulate(controller, perConnection: 25 * MB, total: 40 * MB, seconds: 4); // another download takes most of the link
        var shared = controller.Target;

        Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 6);

        Assert.True(controller.Target * 25 * MB >= 400 * MB, $"{controller.Target} connections (from {shared}) cannot fill the link again");
    }

    [Fact]
    public void A_saturated_link_does_not_make_the_count_swing()
    {
        // Shed because the link is shared; each connection's share stays below what one carried alone: no re-ramp.
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(5), _time);
        Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 6);

        var targets = Simulate(controller, perConnection: 25 * MB, total: 40 * MB, seconds: 10);

        Assert.Single(targets.Skip(30).Distinct());
    }

    [Fact]
    public void A_rate_that_never_settles_ends_the_speed_test_at_its_duration()
    {
        var controller = new ConnectionController(64, 3 * MB, TimeSpan.FromSeconds(2), _time);

        var targets = Simulate(controller, perConnection: 25 * MB, total: 500 * MB, seconds: 3, noise: tick => tick % 2 == 0 ? 0.3 : 1.7);

        Assert.All(targets.Take(19), t => Assert.Equal(1, t));
        Assert.True(targets.Last() > 1);
    }
}
