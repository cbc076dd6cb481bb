using Hfdl.Core.Transfer;

namespace Hfdl.Core.Tests.Transfer;

/// <summary>How often the journal may be rewritten during a run: bounded in time spent and in bytes written.</summary>
public sealed class JournalSaverTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    [Fact]
    public void A_small_quick_save_waits_for_nothing_but_the_next_tick()
    {
        Assert.Equal(TimeSpan.Zero, RepoDownloader.ThrottledSaver.PauseAfter(TimeSpan.FromMilliseconds(2), 20_000, Interval));
    }

    [Fact]
    public void A_large_journal_is_rewritten_at_no_more_than_the_byte_budget()
    {
        // The 11 MB journal of a 50,000-file dataset, serialised and written in 40 ms (page cache): four times a second
        // it would write 44 MB/s for the whole run.
        var bytes = 11L * 1024 * 1024;
        var pause = RepoDownloader.ThrottledSaver.PauseAfter(TimeSpan.FromMilliseconds(40), bytes, Interval);

        var perSecond = bytes / (Interval + pause).TotalSeconds;
        Assert.True(perSecond <= RepoDownloader.ThrottledSaver.BytesPerSecond * 1.001, $"{perSecond:N0} B/s");
        Assert.True(pause < TimeSpan.FromSeconds(6), "a kill -9 loses only a few seconds of records");
    }

    [Fact]
    public void A_slow_save_of_a_big_journal_is_spaced_to_a_twentieth_of_the_time()
    {
        // 1.5 MB: the byte budget alone would allow a save every 0.75 s; its CPU cost asks for more.
        var pause = RepoDownloader.ThrottledSaver.PauseAfter(TimeSpan.FromMilliseconds(100), 1_500_000, Interval);

        Assert.Equal(TimeSpan.FromSeconds(1.75), pause);
    }

    [Fact]
    public void A_small_journal_whose_save_waited_delays_the_next_save_by_at_most_a_second()
    {
        // helper-47: a 2 kB journal whose save waited 150 ms for a loaded machine put the next save 3 s later, and a
        // kill -9 in between lost 3 s of transfer.
        var pause = RepoDownloader.ThrottledSaver.PauseAfter(TimeSpan.FromMilliseconds(150), 2_000, Interval);

        Assert.True(Interval + pause <= TimeSpan.FromSeconds(1), $"next save after {Interval + pause}");
    }
}
