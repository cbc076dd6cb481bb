using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Xet;
using FuzzKit = Hfdl.Core.Tests.Fuzz.Fuzz;

namespace Hfdl.Core.Tests.Xet;

/// <summary>Content-defined chunking against xet-core's reference boundaries (deduplication/src/chunking.rs tests).</summary>
public sealed class XetChunkerTests
{
    [Fact]
    public void Random_data_is_cut_where_xet_core_cuts_it()
    {
        var data = XetTestData.SplitMix(1_000_000, seed: 0);
        Assert.Equal([175, 132, 118], new[] { data[0], data[127], data[111111] });

        Assert.Equal(
            [84493, 134421, 144853, 243318, 271793, 336457, 467529, 494581, 582000, 596735, 616815, 653164, 678202, 724510, 815591, 827760, 958832, 991092, 1000000],
            XetTestData.Boundaries(XetChunker.ChunkLengths(data)));
    }

    [Fact]
    public void Constant_data_is_cut_at_the_maximum_chunk_size()
    {
        var data = Enumerable.Repeat((byte)59, 1_000_000).ToArray();

        Assert.Equal([131072, 262144, 393216, 524288, 655360, 786432, 917504, 1000000], XetTestData.Boundaries(XetChunker.ChunkLengths(data)));
    }

    // xet-core's test_correctness_100kb_hitting_data: a pattern that triggers a boundary, padded with 0..127 zeros. These
    // cases fall near the minimum chunk size, where a boundary the hash finds too early must not be taken.
    public static TheoryData<int, byte, long[]> Triggering => new()
    {
        { 0, 236, [8256, 16448, 24640, 32832, 41024, 49216, 57408, 65536] },
        { 1, 50, [8320, 16576, 24832, 33088, 41344, 49600, 57856, 65536] },
        { 2, 36, [8254, 16574, 24894, 33214, 41534, 49854, 58174, 65536] },
        { 11, 0, [8265, 16466, 24667, 32868, 41069, 49270, 57471, 65536] },
        { 12, 252, [8324, 16584, 24844, 33104, 41364, 49624, 57884, 65536] },
        { 17, 10, [8329, 16594, 24859, 33124, 41389, 49654, 57919, 65536] },
        { 24, 124, [8272, 16480, 24688, 32896, 41104, 49312, 57520, 65536] },
        { 29, 163, [8228, 16549, 24870, 33191, 41512, 49833, 58154, 65536] },
        { 45, 105, [8195, 16499, 24803, 33107, 41411, 49715, 58019, 65536] },
        { 50, 70, [8252, 16618, 24984, 33350, 41716, 50082, 58448, 65536] },
    };

    [Theory]
    [MemberData(nameof(Triggering))]
    public void Boundaries_near_the_minimum_size_are_where_xet_core_puts_them(int padding, byte sampleAt11111, long[] boundaries)
    {
        var data = XetTestData.Triggering(65536, padding);
        Assert.Equal(sampleAt11111, data[11111]);

        Assert.Equal(boundaries, XetTestData.Boundaries(XetChunker.ChunkLengths(data)));
    }

    [Fact]
    public void Data_smaller_than_the_minimum_is_one_chunk_and_nothing_is_no_chunk()
    {
        Assert.Equal([100], XetChunker.ChunkLengths(new byte[100]));
        Assert.Empty(XetChunker.ChunkLengths([]));
    }

    private static readonly Gen<(byte[] Data, int[] Pieces)> DataAndPieces =
        from length in Gen.Choose(0, 600_000)
        from seed in Gen.Choose(0, int.MaxValue)
        from kind in Gen.Choose(0, 2)
        from pieces in Gen.Choose(1, 70_000).ArrayOf(8)
        select (kind switch
        {
            0 => XetTestData.SplitMix(length, (ulong)seed),
            1 => XetTestData.Floats(length, seed),
            _ => XetTestData.Triggering(length, seed % 128),
        }, pieces);

    [Fact]
    public void Chunks_tile_the_input_within_the_size_bounds_whatever_the_buffer_sizes()
    {
        FuzzKit.Check(DataAndPieces, input =>
        {
            var (data, pieces) = input;
            var whole = XetChunker.ChunkLengths(data);

            Assert.Equal(data.Length, whole.Sum());
            Assert.All(whole, l => Assert.InRange(l, 1, XetChunker.MaxChunkSize));
            Assert.All(whole.Take(whole.Count - 1), l => Assert.True(l >= XetChunker.MinChunkSize));
            Assert.Equal(whole, XetChunker.ChunkLengths(data));

            // Streaming through buffers of arbitrary sizes finds the same boundaries.
            var chunker = new XetChunker();
            var streamed = new List<int>();
            var position = 0;
            for (var p = 0; position < data.Length; p++)
            {
                var buffer = data.AsSpan(position, Math.Min(pieces[p % pieces.Length], data.Length - position));
                position += buffer.Length;
                while (buffer.Length > 0)
                {
                    var cut = chunker.NextBoundary(buffer, out var length);
                    if (cut < 0)
                    {
                        break;
                    }
                    streamed.Add(length);
                    buffer = buffer[cut..];
                }
            }
            if (chunker.Finish() is > 0 and var last)
            {
                streamed.Add(last);
            }
            Assert.Equal(whole, streamed);
        });
    }

    private static readonly Gen<(byte[] Data, int At, byte[] Edit)> LocalEdit =
        from seed in Gen.Choose(0, int.MaxValue)
        from at in Gen.Choose(0, 2_000_000)
        from editLength in Gen.Choose(1, 300)
        from edit in Gen.Choose(0, 255).Select(i => (byte)i).ArrayOf(editLength)
        select (XetTestData.SplitMix(2_000_000, (ulong)seed), at, edit);

    [Fact]
    public void A_local_edit_changes_only_the_chunks_near_it()
    {
        FuzzKit.Check(LocalEdit, input =>
        {
            var (data, at, edit) = input;
            var edited = data.ToArray();
            var length = Math.Min(edit.Length, edited.Length - at);
            edit.AsSpan(0, length).CopyTo(edited.AsSpan(at));
            if (edited.AsSpan().SequenceEqual(data))
            {
                return;
            }

            var before = XetTestData.Boundaries(XetChunker.ChunkLengths(data));
            var after = XetTestData.Boundaries(XetChunker.ChunkLengths(edited));

            // Every boundary before the edit stays; past it the two chunkings meet again within a few chunks.
            Assert.Equal(before.Where(b => b <= at), after.Where(b => b <= at));
            var resync = at + length + (4 * XetChunker.MaxChunkSize);
            Assert.Equal(before.Where(b => b >= resync), after.Where(b => b >= resync));
            Assert.InRange(before.Except(after).Count(), 0, 5);
        });
    }
}
