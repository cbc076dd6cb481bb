using Hfdl.Core.Transfer;

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
        var budget = RetryBudget.For("model.bin", 2L * 1024 * MiB, maxRetries: 5);
        Assert.Equal(60 + 32, budget.Limit);
        for (var i = 0; i < budget.Limit; i++)
        {
            budget.CountFailure(new IOException("reset"));
        }

        var error = Assert.Throws<RetryBudgetExhaustedException>(() => budget.CountFailure(new IOException("reset again")));

        Assert.Contains("'model.bin' failed 93 times in this run", error.Message, StringComparison.Ordinal);
        Assert.Contains("reset again", error.Message, StringComparison.Ordinal);
        Assert.Contains("Run the same command again", error.Message, StringComparison.Ordinal);
    }
}
