using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;
using Hfdl.Core.Transfer;

namespace Hfdl.Core.Tests.Transfer;

public sealed class ByteRangesTests
{
    private const long MiB = 1024 * 1024;

    [Theory]
    [InlineData(0L, 16 * MiB)]
    [InlineData(1L, 16 * MiB)]
    [InlineData(16 * MiB, 16 * MiB)]
    [InlineData((16 * MiB) + 1, 16 * MiB)]
    [InlineData((2048 * MiB) - 12345, 16 * MiB)]
    [InlineData(10_000_000_019L, 32 * MiB)]
    [InlineData(100 * MiB, 64 * 1024)]
    public void Segments_tile_the_file_without_gaps_or_overlaps(long size, long segmentSize)
    {
        var segments = ByteRanges.Plan(size, segmentSize, []);

        var cursor = 0L;
        foreach (var segment in segments)
        {
            Assert.Equal(cursor, segment.Start);
            Assert.True(segment.End > segment.Start, $"empty segment {segment}");
            Assert.True(segment.End - segment.Start <= segmentSize, $"{segment} is larger than {segmentSize}");
            cursor = segment.End;
        }
        Assert.Equal(size, cursor);
    }

    [Fact]
    public void Done_ranges_become_complete_segments_and_the_rest_is_still_planned()
    {
        var size = (64 * MiB) + 7;
        var segments = ByteRanges.Plan(size, 8 * MiB, [(3 * MiB, 20 * MiB), (60 * MiB, size)]);

        Assert.Contains(segments, s => s.Start == 3 * MiB && s.End == 20 * MiB && s.IsComplete);
        Assert.Contains(segments, s => s.Start == 60 * MiB && s.End == size && s.IsComplete);
        Assert.Equal(size - (17 * MiB) - (4 * MiB) - 7, segments.Where(s => !s.IsComplete).Sum(s => s.End - s.Start));
        Assert.Equal(size, segments.Sum(s => s.End - s.Start));
    }
}
