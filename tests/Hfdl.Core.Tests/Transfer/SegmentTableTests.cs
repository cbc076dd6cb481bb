using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Transfer;

namespace Hfdl.Core.Tests.Transfer;

/// <summary>The segment table of a big file: take, steal, write, release, restart and the written prefix, with no I/O.</summary>
public sealed class SegmentTableTests
{
    private const long MiB = 1024 * 1024;

    private static void Write(SegmentTable table, Segment segment, int count)
    {
        var position = table.BeginWrite(segment, count, out var reserved);
        Assert.True(position >= 0, $"nothing to write in {segment}");
        table.EndWrite(segment, reserved);
    }

    [Fact]
    public void A_xet_term_takes_exactly_its_unwritten_bytes_and_nothing_around_them()
    {
        var table = new SegmentTable(1000, 400, [(100, 150)]);
        var pieces = table.TakeRange(120, 610);

        // The planned segments are [0, 100), [100, 150) written, [150, 550), [550, 950), [950, 1000): the written bytes
        // are left out, and the cut at 610 is exact (no alignment).
        Assert.Equal([(150L, 550L), (550L, 610L)], pieces.Select(p => (p.Start, p.End)));
        Assert.Empty(table.TakeRange(130, 600)); // owned now
        Assert.Empty(table.TakeRange(100, 150)); // written
        foreach (var piece in pieces)
        {
            Write(table, piece, (int)(piece.End - piece.Start));
            table.Release(piece);
        }
        Assert.Equal([(100L, 610L)], table.WrittenRanges());
        // What is left is still anyone's: a plain connection takes it after a Xet fallback.
        var rest = new List<(long, long)>();
        while (table.TakeNext(1000, 1000) is { } segment)
        {
            rest.Add((segment.Position, segment.End));
        }
        Assert.Equal([(0L, 100L), (610L, 950L), (950L, 1000L)], rest);
    }

    [Fact]
    public void A_xet_term_inside_a_partly_written_segment_starts_where_the_writing_stopped()
    {
        var table = new SegmentTable(1000, 1000, []);
        var whole = table.TakeNext(1000, 1000)!;
        Write(table, whole, 300);
        table.Release(whole);

        var pieces = table.TakeRange(200, 500);

        var piece = Assert.Single(pieces);
        Assert.Equal((300L, 500L), (piece.Position, piece.End));
        Assert.Equal((0L, 300L), Assert.Single(table.WrittenRanges()));
    }

    [Fact]
    public void Connections_take_segments_cut_to_their_limit_and_finer_in_the_last_quarter()
    {
        var table = new SegmentTable(64 * MiB, 16 * MiB, []);

        var taken = new List<Segment>();
        while (table.TakeNext(maximumBytes: 8 * MiB, tailBytes: 2 * MiB) is { } segment)
        {
            taken.Add(segment);
        }

        Assert.Equal(0, taken[0].Start);
        Assert.All(taken.Where(s => s.Start < 48 * MiB), s => Assert.Equal(8 * MiB, s.End - s.Start));
        Assert.All(taken.Where(s => s.Start >= 48 * MiB), s => Assert.Equal(2 * MiB, s.End - s.Start));
        Assert.Equal(64 * MiB, taken.Sum(s => s.End - s.Start));
        Assert.Equal(64 * MiB, taken[^1].End);
    }

    [Fact]
    public void A_steal_takes_the_second_half_above_the_bytes_the_victim_is_writing()
    {
        var table = new SegmentTable(32 * MiB, 32 * MiB, []);
        var victim = table.TakeNext(32 * MiB, 32 * MiB)!;
        Write(table, victim, (int)(4 * MiB));
        var writing = table.BeginWrite(victim, (int)(2 * MiB), out var inFlight);

        var stolen = table.Steal(minimumBytes: 4 * MiB);

        Assert.NotNull(stolen);
        Assert.Equal(4 * MiB, writing);
        // Half of what is neither written nor being written (6 MiB to 32 MiB), on a 64 KiB boundary.
        Assert.Equal(19 * MiB, stolen.Start);
        Assert.Equal(32 * MiB, stolen.End);
        Assert.Equal((4 * MiB, 19 * MiB), table.Snapshot(victim));
        Assert.True(stolen.Start >= writing + inFlight);
    }

    [Fact]
    public void A_segment_with_less_than_twice_the_minimum_left_is_not_stolen()
    {
        var table = new SegmentTable(10 * MiB, 10 * MiB, []);
        var victim = table.TakeNext(10 * MiB, 10 * MiB)!;
        Write(table, victim, (int)(3 * MiB));

        Assert.Equal(7 * MiB, table.LargestStealable());
        Assert.Null(table.Steal(minimumBytes: 4 * MiB));
        Assert.NotNull(table.Steal(minimumBytes: 3 * MiB));
    }

    [Fact]
    public void The_frontier_is_the_contiguous_written_prefix_and_waits_for_a_gap()
    {
        var table = new SegmentTable(4 * MiB, 1 * MiB, []);
        var first = table.TakeNext(MiB, MiB)!;
        var second = table.TakeNext(MiB, MiB)!;

        Write(table, second, (int)MiB);
        Assert.Equal(0, table.Frontier(0).Frontier);

        Write(table, first, 1000);
        Assert.Equal(1000, table.Frontier(0).Frontier);

        Write(table, first, (int)MiB - 1000);
        Assert.Equal(2 * MiB, table.Frontier(0).Frontier);
        Assert.Equal([(0L, 2 * MiB)], table.WrittenRanges());
    }

    [Fact]
    public void A_reader_at_any_offset_sees_the_written_run_that_holds_it_across_segments()
    {
        var table = new SegmentTable(4 * MiB, 1 * MiB, []);
        var first = table.TakeNext(MiB, MiB)!;
        var second = table.TakeNext(MiB, MiB)!;
        var third = table.TakeNext(MiB, MiB)!;
        Write(table, second, (int)MiB);
        Write(table, third, 1000);

        Assert.Equal(0, table.WrittenEnd(0));
        Assert.Equal((2 * MiB) + 1000, table.WrittenEnd(MiB));
        Assert.Equal((2 * MiB) + 1000, table.WrittenEnd((2 * MiB) + 999));
        Assert.Equal((2 * MiB) + 1000, table.WrittenEnd((2 * MiB) + 1000));

        Write(table, first, (int)MiB);
        Assert.Equal((2 * MiB) + 1000, table.WrittenEnd(0));
        Assert.Equal(4 * MiB, table.WrittenEnd(4 * MiB));
    }

    [Fact]
    public void A_released_segment_is_taken_again_from_where_its_writing_stopped()
    {
        var table = new SegmentTable(MiB, MiB, []);
        var segment = table.TakeNext(MiB, MiB)!;
        Write(table, segment, 1234);
        table.BeginWrite(segment, 5000, out _); // a write the connection never finished
        table.Release(segment);

        var again = table.TakeNext(MiB, MiB);

        Assert.Same(segment, again);
        Assert.Equal((1234, MiB), table.Snapshot(again!));
        Assert.Equal(1234, table.BytesWritten);
    }

    [Fact]
    public void Restarting_as_a_whole_makes_older_segments_stale_and_their_writes_uncounted()
    {
        var table = new SegmentTable(8 * MiB, 2 * MiB, []);
        var other = table.TakeNext(2 * MiB, 2 * MiB)!;
        var mine = table.TakeNext(2 * MiB, 2 * MiB)!;
        Write(table, other, 100);
        var position = table.BeginWrite(other, 100, out var count);

        var whole = table.RestartAsWhole();

        Assert.True(table.IsStale(other));
        Assert.True(table.IsStale(mine));
        Assert.False(table.IsStale(whole));
        Assert.False(table.EndWrite(other, count));
        Assert.Equal(-1, table.BeginWrite(other, 100, out _));
        Assert.Equal(100, position);
        Assert.Equal((1, 0L), table.Frontier(0));
        Assert.Equal(0, table.BytesWritten);
        Assert.Equal((0L, 8 * MiB), table.Snapshot(whole));
    }

    [Fact]
    public void Resumed_ranges_are_complete_segments_that_the_frontier_passes_through()
    {
        var table = new SegmentTable(10 * MiB, 4 * MiB, [(0, 3 * MiB), (5 * MiB, 6 * MiB)]);

        Assert.Equal(3 * MiB, table.Frontier(0).Frontier);
        Assert.Equal(4 * MiB, table.BytesWritten);
        var next = table.TakeNext(10 * MiB, 10 * MiB)!;
        Assert.Equal((3 * MiB, 5 * MiB), table.Snapshot(next));
        Write(table, next, (int)(2 * MiB));
        Assert.Equal(6 * MiB, table.Frontier(0).Frontier);
    }

    [Fact]
    public void The_last_write_of_the_last_segment_says_the_file_is_complete()
    {
        var table = new SegmentTable(3000, 1000, [], alignment: 16);
        var segments = new[] { table.TakeNext(1000, 1000)!, table.TakeNext(1000, 1000)!, table.TakeNext(1000, 1000)! };

        table.BeginWrite(segments[2], 1000, out var a);
        Assert.False(table.EndWrite(segments[2], a));
        table.BeginWrite(segments[0], 1000, out var b);
        Assert.False(table.EndWrite(segments[0], b));
        table.BeginWrite(segments[1], 1000, out var c);
        Assert.True(table.EndWrite(segments[1], c));
        Assert.True(table.IsComplete);
    }

    [Fact]
    public void A_closed_table_hands_out_nothing_and_takes_no_writes()
    {
        var table = new SegmentTable(8 * MiB, 2 * MiB, []);
        var segment = table.TakeNext(2 * MiB, 2 * MiB)!;

        table.Close();

        Assert.Null(table.TakeNext(2 * MiB, 2 * MiB));
        Assert.Null(table.Steal(MiB));
        Assert.False(table.HasUnowned());
        Assert.Equal(-1, table.BeginWrite(segment, 100, out _));
    }

    // ---- Properties: random interleavings of what connections do keep the invariants. ----

    private enum Act
    {
        Take,
        Steal,
        Begin,
        End,
        Release,
        Restart,
    }

    private sealed record Step(Act Act, int Worker, int A, int B);

    private sealed record Scenario(long Size, long SegmentSize, long Alignment, (long Start, long End)[] Done, Step[] Steps)
    {
        public override string ToString() =>
            $"size {Size}, segments {SegmentSize}, alignment {Alignment}, done [{string.Join(", ", Done)}], steps: {string.Join("; ", Steps.Select(s => $"{s.Act} w{s.Worker} {s.A} {s.B}"))}";
    }

    private static readonly Gen<Step> Steps =
        from act in Gen.Frequency((4, Gen.Constant(Act.Take)), (2, Gen.Constant(Act.Steal)), (5, Gen.Constant(Act.Begin)), (5, Gen.Constant(Act.End)), (2, Gen.Constant(Act.Release)), (1, Gen.Constant(Act.Restart)))
        from worker in Gen.Choose(0, 3)
        from a in Gen.Choose(1, 6000)
        from b in Gen.Choose(1, 6000)
        select new Step(act, worker, a, b);

    private static readonly Gen<Scenario> Scenarios =
        from size in Gen.Frequency((1, Gen.Choose(1, 64)), (4, Gen.Choose(65, 40_000)))
        from segmentSize in Gen.Choose(1, 12_000)
        from alignment in Gen.Elements(1L, 16L, 256L, 4096L)
        from doneCount in Gen.Choose(0, 3)
        from done in Gen.Zip(Gen.Choose(0, size), Gen.Choose(0, size)).ArrayOf(doneCount)
        from count in Gen.Choose(0, 250)
        from steps in Steps.ArrayOf(count)
        select new Scenario(size, segmentSize, alignment, [.. done.Select(d => ((long)Math.Min(d.Item1, d.Item2), (long)Math.Max(d.Item1, d.Item2)))], steps);

    private sealed class Worker
    {
        public Segment? Held;
        public (long Position, int Count, int Generation)? Writing;
    }

    [Fact]
    public void Random_interleavings_of_take_steal_write_release_and_restart_keep_every_invariant() =>
        Fuzz.Fuzz.Check(Scenarios, scenario =>
        {
            var table = new SegmentTable(scenario.Size, scenario.SegmentSize, scenario.Done, scenario.Alignment);
            var written = ByteRanges.Normalize(scenario.Done.Select(d => (Math.Max(0, d.Start), Math.Min(scenario.Size, d.End))));
            var workers = Enumerable.Range(0, 4).Select(_ => new Worker()).ToArray();
            var generation = 0;
            var lastFrontier = 0L;
            CheckInvariants(table, scenario, written, workers, generation, ref lastFrontier);
            foreach (var step in scenario.Steps)
            {
                var worker = workers[step.Worker];
                switch (step.Act)
                {
                    case Act.Take when worker.Held is null:
                        worker.Held = table.TakeNext(step.A, step.B);
                        break;
                    case Act.Steal when worker.Held is null:
                        worker.Held = table.Steal(step.A % 3000);
                        if (worker.Held is { } stolen)
                        {
                            // Never below what another connection is writing right now.
                            foreach (var other in workers.Where(w => w != worker && w.Writing is { } x && x.Generation == generation))
                            {
                                var (position, count, _) = other.Writing!.Value;
                                Assert.True(position + count <= stolen.Start || position >= stolen.End, $"stole [{stolen.Start}, {stolen.End}) over a write at [{position}, {position + count})");
                            }
                        }
                        break;
                    case Act.Begin when worker.Held is { } segment && worker.Writing is null:
                        var at = table.BeginWrite(segment, step.A, out var reserved);
                        if (at >= 0)
                        {
                            Assert.InRange(reserved, 1, step.A);
                            Assert.False(Overlaps(written, at, at + reserved), $"[{at}, {at + reserved}) is written already");
                            foreach (var other in workers.Where(w => w != worker && w.Writing is { } x && x.Generation == generation))
                            {
                                var (position, count, _) = other.Writing!.Value;
                                Assert.True(at + reserved <= position || at >= position + count, $"two connections write [{at}, {at + reserved}) and [{position}, {position + count})");
                            }
                            worker.Writing = (at, reserved, generation);
                        }
                        else
                        {
                            Assert.Equal(0, reserved);
                        }
                        break;
                    case Act.End when worker.Held is { } segment && worker.Writing is { } write:
                        table.EndWrite(segment, write.Count);
                        if (write.Generation == generation)
                        {
                            written = ByteRanges.Normalize([.. written, (write.Position, write.Position + write.Count)]);
                        }
                        worker.Writing = null;
                        break;
                    case Act.Release when worker.Held is { } segment:
                        table.Release(segment);
                        worker.Held = null;
                        worker.Writing = null;
                        break;
                    case Act.Restart when worker.Held is not null:
                        worker.Held = table.RestartAsWhole();
                        worker.Writing = null;
                        generation++;
                        written = [];
                        lastFrontier = 0;
                        break;
                }
                CheckInvariants(table, scenario, written, workers, generation, ref lastFrontier);
            }
        });

    private static bool Overlaps(List<(long Start, long End)> ranges, long start, long end) => ranges.Exists(r => r.Start < end && start < r.End);

    private static void CheckInvariants(SegmentTable table, Scenario scenario, List<(long Start, long End)> written, Worker[] workers, int generation, ref long lastFrontier)
    {
        var segments = table.Describe();
        // The segments tile [0, size) in order, without gaps or overlaps, each written only inside itself.
        var cursor = 0L;
        foreach (var (start, end, bytes, _, inFlightEnd) in segments)
        {
            Assert.Equal(cursor, start);
            Assert.True(end > start, $"an empty segment at {start}");
            Assert.InRange(bytes, 0, end - start);
            Assert.InRange(inFlightEnd, start + bytes, end);
            cursor = end;
        }
        Assert.Equal(scenario.Size, cursor);
        // What the table says is written is exactly what was written in this generation, inside the file.
        var ranges = table.WrittenRanges();
        Assert.Equal(written, ranges);
        Assert.All(ranges, r => Assert.True(r.Start >= 0 && r.End <= scenario.Size));
        Assert.Equal(written.Sum(r => r.End - r.Start), table.BytesWritten);
        // Each segment of this generation is owned by at most one connection, and owned exactly when one holds it.
        var held = workers.Where(w => w.Held is { } s && !table.IsStale(s)).Select(w => w.Held!).ToList();
        Assert.Equal(held.Count, held.Distinct().Count());
        Assert.Equal(segments.Count(s => s.Owned), held.Count);
        // The frontier is the contiguous written prefix, and it only moves forward within a generation.
        var (current, frontier) = table.Frontier(0);
        Assert.Equal(generation, current);
        Assert.Equal(written.Count > 0 && written[0].Start == 0 ? written[0].End : 0, frontier);
        Assert.True(frontier >= lastFrontier, $"the frontier went back from {lastFrontier} to {frontier}");
        lastFrontier = frontier;
        Assert.Equal(frontier == scenario.Size, table.IsComplete);
        // From any offset, the written run that holds it ends where the model's range does (not written: the offset).
        foreach (var offset in written.SelectMany(r => new[] { r.Start, (r.Start + r.End) / 2, r.End - 1, r.End }).Append(0).Append(scenario.Size / 3))
        {
            var run = written.FirstOrDefault(r => r.Start <= offset && offset < r.End);
            Assert.Equal(run.End > run.Start ? run.End : offset, table.WrittenEnd(offset));
        }
    }
}
