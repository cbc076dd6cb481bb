using Hfdl.Core.Transfer;

namespace Hfdl.Core.Tests.Transfer;

public sealed class DownloadOptionsTests
{
    public static TheoryData<DownloadOptions, string> Invalid => new()
    {
        // NaN passed every "must not be negative" check, and reached the bandwidth limiter or a TimeSpan mid-run.
        { new DownloadOptions { MaxBytesPerSecond = double.NaN }, nameof(DownloadOptions.MaxBytesPerSecond) },
        { new DownloadOptions { MaxBytesPerSecond = double.PositiveInfinity }, nameof(DownloadOptions.MaxBytesPerSecond) },
        // 1e-8 MB/s: one read's wait overflowed the timer.
        { new DownloadOptions { MaxBytesPerSecond = 0.01 }, nameof(DownloadOptions.MaxBytesPerSecond) },
        { new DownloadOptions { MinSpeedPerConnection = double.NaN }, nameof(DownloadOptions.MinSpeedPerConnection) },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Values_no_engine_can_run_with_are_refused_before_it_starts(DownloadOptions options, string option)
    {
        var error = Assert.Throws<InvalidOptionException>(options.Validate);

        Assert.Equal(option, error.Option);
    }

    [Fact]
    public void The_slowest_speed_cap_is_accepted()
    {
        new DownloadOptions { MaxBytesPerSecond = DownloadOptions.SlowestSpeedCap }.Validate();
    }
}
