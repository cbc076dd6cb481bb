namespace Hfdl.Core.Transfer;

/// <summary>
/// A byte range <c>[Start, End)</c> of one big file, fetched by one connection at a time. <see cref="End"/> shrinks
/// when an idle connection steals the second half. All fields are guarded by the owning job's lock.
/// </summary>
internal sealed class Segment(long start, long end, long written = 0)
{
    public long Start { get; } = start;

    public long End { get; set; } = end;

    /// <summary>Bytes from <see cref="Start"/> on that are written to the file.</summary>
    public long Written { get; set; } = written;

    /// <summary>
    /// End of the bytes being written right now (not yet counted in <see cref="Written"/>): a steal never splits
    /// below it, so two connections never write the same bytes.
    /// </summary>
    public long InFlightEnd { get; set; } = start + written;

    public bool Owned { get; set; }

    /// <summary>The job generation this segment belongs to; a restart of the job makes older segments stale.</summary>
    public int Generation { get; init; }

    public long Position => Start + Written;

    public long Remaining => End - Position;

    public bool IsComplete => Position >= End;

    public override string ToString() => $"[{Start}, {End}) written {Written}{(Owned ? " owned" : "")}";
}

/// <summary>Helpers for lists of half-open byte ranges.</summary>
internal static class ByteRanges
{
    /// <summary>Sorts and merges overlapping or touching ranges.</summary>
    public static List<(long Start, long End)> Normalize(IEnumerable<(long Start, long End)> ranges)
    {
        var sorted = ranges.Where(r => r.End > r.Start).OrderBy(r => r.Start).ToList();
        var merged = new List<(long Start, long End)>();
        foreach (var range in sorted)
        {
            if (merged.Count > 0 && range.Start <= merged[^1].End)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, range.End));
            }
            else
            {
                merged.Add(range);
            }
        }
        return merged;
    }

    /// <summary>
    /// Cuts <c>[0, size)</c> into segments of about <paramref name="segmentSize"/> bytes, marking the parts in
    /// <paramref name="done"/> as already written (resume). A done range becomes a complete segment of its own.
    /// Connections cut these further as they take them (<see cref="SegmentTable.TakeNext"/>), to a size that suits
    /// their speed.
    /// </summary>
    public static List<Segment> Plan(long size, long segmentSize, IReadOnlyList<(long Start, long End)> done)
    {
        segmentSize = Math.Max(1, segmentSize);
        var segments = new List<Segment>();
        var cursor = 0L;
        foreach (var (start, end) in Normalize(done.Select(r => (Math.Max(0, r.Start), Math.Min(size, r.End)))))
        {
            AddPending(segments, cursor, start, segmentSize);
            segments.Add(new Segment(start, end, end - start));
            cursor = end;
        }
        AddPending(segments, cursor, size, segmentSize);
        return segments;
    }

    private static void AddPending(List<Segment> segments, long from, long to, long segmentSize)
    {
        for (var start = from; start < to; start += segmentSize)
        {
            segments.Add(new Segment(start, Math.Min(to, start + segmentSize)));
        }
    }
}
