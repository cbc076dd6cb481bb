namespace Hfdl.Core.Transfer;

/// <summary>
/// The segments of one file fetched by several connections: which bytes are written, which are owned by a connection
/// (and which of those are being written right now), and where the contiguous written prefix ends. Pure: no I/O, no
/// clock; thread-safe (one lock). Invariants, checked by its property tests: the segments tile <c>[0, size)</c> in
/// order without overlap; no byte is reserved for writing by two connections, nor written twice in one generation; a
/// steal never splits below the bytes its victim is writing; the frontier only moves forward within a generation.
/// </summary>
internal sealed class SegmentTable
{
    /// <summary>Cuts fall on this boundary (64 KiB): page- and block-aligned requests and writes.</summary>
    public const long DefaultAlignment = 64 * 1024;

    private readonly object _gate = new();
    private readonly long _alignmentMask;
    private List<Segment> _segments;
    private int _generation;
    private bool _closed;

    /// <param name="size">The file's size in bytes.</param>
    /// <param name="segmentSize">The size segments are planned at (connections cut them finer as they take them).</param>
    /// <param name="done">Ranges already written (resume), kept as complete segments.</param>
    /// <param name="alignment">A power of two that cuts and steals are rounded to.</param>
    public SegmentTable(long size, long segmentSize, IReadOnlyList<(long Start, long End)> done, long alignment = DefaultAlignment)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), "The alignment must be a power of two.");
        }
        Size = size;
        _alignmentMask = ~(alignment - 1);
        _segments = ByteRanges.Plan(size, segmentSize, done);
    }

    public long Size { get; }

    /// <summary>Incremented by <see cref="RestartAsWhole"/>: segments of older generations are stale.</summary>
    public int Generation
    {
        get
        {
            lock (_gate)
            {
                return _generation;
            }
        }
    }

    /// <summary>Bytes written in the current generation.</summary>
    public long BytesWritten
    {
        get
        {
            lock (_gate)
            {
                var sum = 0L;
                foreach (var segment in _segments)
                {
                    sum += segment.Written;
                }
                return sum;
            }
        }
    }

    /// <summary>Every byte is written.</summary>
    public bool IsComplete
    {
        get
        {
            lock (_gate)
            {
                return AllCompleteLocked();
            }
        }
    }

    /// <summary>No more segments are handed out (the file failed or stopped); writes in flight may still end.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
        }
    }

    /// <summary>
    /// Takes the first segment nobody owns, cut to at most about <paramref name="maximumBytes"/>, or
    /// <paramref name="tailBytes"/> in the last quarter of the file (the rest stays queued as its own segment). All
    /// connections finish their last segments together, and the hash, which follows the contiguous written prefix,
    /// can only hash that last wave once its first segment lands: shorter last segments make that wave, and the wait
    /// for the hash after the last byte, shorter, for a few more requests where they cost least.
    /// </summary>
    public Segment? TakeNext(long maximumBytes, long tailBytes)
    {
        var tailStart = Size - (Size / 4);
        lock (_gate)
        {
            if (_closed)
            {
                return null;
            }
            for (var i = 0; i < _segments.Count; i++)
            {
                var segment = _segments[i];
                if (segment.Owned || segment.IsComplete)
                {
                    continue;
                }
                // Only cut when the rest is worth a request of its own.
                var limit = segment.Position >= tailStart ? Math.Min(tailBytes, maximumBytes) : maximumBytes;
                var cut = (segment.Position + limit) & _alignmentMask;
                if (limit > 0 && cut > segment.Position && segment.End - cut > limit / 2)
                {
                    _segments.Insert(i + 1, new Segment(cut, segment.End) { Generation = segment.Generation });
                    segment.End = cut;
                }
                segment.Owned = true;
                return segment;
            }
            return null;
        }
    }

    /// <summary>Some segment is neither owned nor complete.</summary>
    public bool HasUnowned()
    {
        lock (_gate)
        {
            return !_closed && _segments.Exists(s => !s.Owned && !s.IsComplete);
        }
    }

    /// <summary>Bytes an idle connection could steal: the largest unreserved remainder of an owned segment.</summary>
    public long LargestStealable()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return 0;
            }
            var largest = 0L;
            foreach (var segment in _segments)
            {
                if (segment.Owned)
                {
                    largest = Math.Max(largest, StealableBytes(segment));
                }
            }
            return largest;
        }
    }

    /// <summary>
    /// Work stealing: splits the owned segment with the most unreserved bytes left and hands its second half to the
    /// caller, so the tail of a file is fetched by every idle connection instead of by the slowest one. The split lies
    /// above what the victim is writing, and leaves both halves at least <paramref name="minimumBytes"/>.
    /// </summary>
    public Segment? Steal(long minimumBytes)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return null;
            }
            Segment? victim = null;
            var most = 0L;
            foreach (var segment in _segments)
            {
                if (segment.Owned && StealableBytes(segment) > most)
                {
                    victim = segment;
                    most = StealableBytes(segment);
                }
            }
            if (victim is null || most < 2 * Math.Max(1, minimumBytes))
            {
                return null;
            }
            var from = Math.Max(victim.Position, victim.InFlightEnd);
            var middle = from + ((victim.End - from) / 2);
            middle = Math.Min(victim.End - minimumBytes, (middle + ~_alignmentMask) & _alignmentMask);
            if (middle <= from || middle >= victim.End)
            {
                return null;
            }
            var stolen = new Segment(middle, victim.End) { Owned = true, Generation = victim.Generation };
            victim.End = middle;
            _segments.Insert(_segments.IndexOf(victim) + 1, stolen);
            return stolen;
        }
    }

    /// <summary>
    /// Takes the unwritten bytes of <c>[start, end)</c> that nobody owns, cut out of their segments exactly at
    /// <paramref name="start"/> and <paramref name="end"/> (no alignment): the pieces a Xet term writes, in order. Bytes
    /// already written, or owned by another connection, are left out. Empty when there is nothing left to write there.
    /// </summary>
    public List<Segment> TakeRange(long start, long end)
    {
        var pieces = new List<Segment>();
        lock (_gate)
        {
            if (_closed)
            {
                return pieces;
            }
            for (var i = 0; i < _segments.Count; i++)
            {
                var segment = _segments[i];
                if (segment.End <= start || segment.Owned || segment.IsComplete)
                {
                    continue;
                }
                if (segment.Start >= end)
                {
                    break;
                }
                var from = Math.Max(segment.Position, start);
                var to = Math.Min(segment.End, end);
                if (from >= to)
                {
                    continue;
                }
                if (to < segment.End)
                {
                    _segments.Insert(i + 1, new Segment(to, segment.End) { Generation = segment.Generation });
                    segment.End = to;
                }
                if (from > segment.Position)
                {
                    // The unwritten bytes before the range stay a segment of their own.
                    var piece = new Segment(from, to) { Generation = segment.Generation };
                    segment.End = from;
                    _segments.Insert(++i, piece);
                    segment = piece;
                }
                segment.Owned = true;
                pieces.Add(segment);
            }
        }
        return pieces;
    }

    private static long StealableBytes(Segment s) => s.End - Math.Max(s.Position, s.InFlightEnd);

    /// <summary>The connection is done with <paramref name="segment"/> (finished, failed or stale); a write it reserved and did not end is void.</summary>
    public void Release(Segment segment)
    {
        lock (_gate)
        {
            segment.Owned = false;
            segment.InFlightEnd = segment.Position;
        }
    }

    /// <summary>Where the owner of <paramref name="segment"/> is and where the segment ends now (a steal may have shrunk it).</summary>
    public (long From, long End) Snapshot(Segment segment)
    {
        lock (_gate)
        {
            return (segment.Position, segment.End);
        }
    }

    /// <summary>What the owner of <paramref name="segment"/> still has to write, or null when the segment is stale (one lock, for the read loop).</summary>
    public (long From, long End)? Remaining(Segment segment)
    {
        lock (_gate)
        {
            return segment.Generation != _generation || _closed ? null : (segment.Position, segment.End);
        }
    }

    public bool IsStale(Segment segment)
    {
        lock (_gate)
        {
            return segment.Generation != _generation || _closed;
        }
    }

    /// <summary>
    /// Reserves the next bytes of <paramref name="segment"/> for writing: at most <paramref name="available"/> and
    /// never past its (possibly shrunk) end. Returns the file offset, or -1 when the segment is done or stale.
    /// </summary>
    public long BeginWrite(Segment segment, int available, out int count)
    {
        lock (_gate)
        {
            count = (int)Math.Min(available, segment.End - segment.Position);
            if (count <= 0 || segment.Generation != _generation || _closed || !segment.Owned)
            {
                count = 0;
                return -1;
            }
            segment.InFlightEnd = segment.Position + count;
            return segment.Position;
        }
    }

    /// <summary>
    /// Counts the bytes reserved by <see cref="BeginWrite"/> as written (they are in the file). Returns true when this
    /// write completed the whole file; false otherwise, and for a write of a stale generation (not counted).
    /// </summary>
    public bool EndWrite(Segment segment, int count)
    {
        lock (_gate)
        {
            if (segment.Generation != _generation || count <= 0 || segment.Position + count > segment.InFlightEnd)
            {
                return false;
            }
            segment.Written += count;
            segment.InFlightEnd = segment.Position;
            return segment.IsComplete && AllCompleteLocked();
        }
    }

    /// <summary>
    /// The server ignored Range and is sending the whole file from byte 0: start over with one segment that the
    /// calling connection owns. Segments of the old generation become stale; their writes are no longer counted.
    /// </summary>
    public Segment RestartAsWhole()
    {
        lock (_gate)
        {
            _generation++;
            var whole = new Segment(0, Size) { Owned = true, Generation = _generation };
            _segments = [whole];
            return whole;
        }
    }

    /// <summary>
    /// The end of the contiguous written prefix, looked for from <paramref name="from"/> on (a reader that has handled
    /// the bytes before it), with the generation it belongs to.
    /// </summary>
    public (int Generation, long Frontier) Frontier(long from)
    {
        lock (_gate)
        {
            var frontier = from;
            foreach (var segment in _segments)
            {
                if (segment.End <= frontier && segment.IsComplete)
                {
                    continue;
                }
                if (segment.Start > frontier)
                {
                    break;
                }
                frontier = Math.Max(frontier, segment.Position);
                if (!segment.IsComplete)
                {
                    break;
                }
            }
            return (_generation, frontier);
        }
    }

    /// <summary>
    /// Where the written bytes that start at <paramref name="offset"/> end: the end of the written run holding it,
    /// across segments, in the current generation; <paramref name="offset"/> itself when that byte is not written. Any
    /// offset works (unlike <see cref="Frontier"/>, which continues a reader that follows the prefix): a reader that
    /// follows a download answers a range request with it.
    /// </summary>
    public long WrittenEnd(long offset)
    {
        lock (_gate)
        {
            var end = offset;
            foreach (var segment in _segments)
            {
                if (segment.End <= end)
                {
                    continue;
                }
                if (segment.Start > end || segment.Position <= end)
                {
                    break;
                }
                end = segment.Position;
                if (!segment.IsComplete)
                {
                    break;
                }
            }
            return end;
        }
    }

    /// <summary>The written ranges, merged, for the journal.</summary>
    public List<(long Start, long End)> WrittenRanges()
    {
        lock (_gate)
        {
            return ByteRanges.Normalize(_segments.Select(s => (s.Start, s.Position)));
        }
    }

    /// <summary>A copy of the segments, for tests and diagnostics.</summary>
    public IReadOnlyList<(long Start, long End, long Written, bool Owned, long InFlightEnd)> Describe()
    {
        lock (_gate)
        {
            return [.. _segments.Select(s => (s.Start, s.End, s.Written, s.Owned, s.InFlightEnd))];
        }
    }

    private bool AllCompleteLocked() => _segments.TrueForAll(s => s.IsComplete);
}
