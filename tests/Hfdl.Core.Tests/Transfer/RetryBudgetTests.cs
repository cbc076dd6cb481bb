using Hfdl.Core.Transfer;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.Core.Tests.Transfer;

/// <summary>How often a file may fail in one run, and what counts as progress.</summary>
public sealed class RetryBudgetTests
{
    private const long MiB = 1024 * 1024;

    [Theory]
    [InlineData(0, 32 * MiB, false)]
    [InlineData(128 * 1024, 32 * MiB, false)]
    [InlineData(MiB - 1, 32 * MiB, false)]
    [InlineData(MiB, 32 * MiB, true)]
    [InlineData(100_000, 150_000, true)]
    [InlineData(74_999, 150_000, false)]
    [InlineData(1, 1, true)]
    public void An_attempt_made_progress_when_it_delivered_a_mebibyte_or_half_of_what_was_asked(long delivered, long asked, bool meaningful) =>
        Assert.Equal(meaningful, RetryBudget.IsMeaningful(delivered, asked));

    [Fact]
    public void A_file_fails_for_good_after_its_budget_of_failures_with_a_message_that_says_why()
    {
        var time = new FakeTimeProvider();
        var budget = RetryBudget.For("model.bin", 2L * 1024 * MiB, maxRetries: 5, time);
        Assert.Equal(60 + 32, budget.Limit);
        for (var i = 0; i < budget.Limit; i++)
        {
            budget.CountFailure(new IOException("reset"));
            time.Advance(RetryBudget.SameEvent);
        }

        var error = Assert.Throws<RetryBudgetExhaustedException>(() => budget.CountFailure(new IOException("reset again")));

        Assert.Contains("'model.bin' failed 93 times in this run", error.Message, StringComparison.Ordinal);
        Assert.Contains("reset again", error.Message, StringComparison.Ordinal);
        Assert.Contains("Run the same command again", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Failures_of_many_connections_at_one_moment_count_once()
    {
        // A server restart fails every segment of a file at once: one event, not forty.
        var time = new FakeTimeProvider();
        var budget = RetryBudget.For("model.bin", 150 * MiB, maxRetries: 5, time);
        for (var second = 0; second < 3; second++)
        {
            for (var connection = 0; connection < 40; connection++)
            {
                budget.CountFailure(new HttpRequestException("Connection refused"));
                time.Advance(TimeSpan.FromMilliseconds(10));
            }
            time.Advance(RetryBudget.SameEvent);
        }

        Assert.Equal(3, budget.Failures);
    }
}
