using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Tests.Replay;
using Hfdl.Core.Xet;
using FuzzKit = Hfdl.Core.Tests.Fuzz.Fuzz;

namespace Hfdl.Core.Tests.Xet;

/// <summary>
/// Hostile Xet input: mutated reconstructions, xorbs, xorb ranges, shards and LZ4 frames, and lengths that lie. Every
/// parser either succeeds with a result that keeps its contract or throws <see cref="XetFormatException"/>: never
/// another exception, never an allocation beyond what its input justifies.
/// </summary>
public sealed class XetFuzzTests
{
    private static readonly (XorbBuilder Builder, List<byte[]> Chunks) Xorb = XorbFormatTests.Build(6);
    private static readonly byte[] XorbBytes = Xorb.Builder.ToArray();

    private static void RefusedOrValid(Action parse)
    {
        try
        {
            parse();
        }
        catch (XetFormatException)
        {
        }
    }

    private static string Reconstruction(bool v2)
    {
        var hash = Xorb.Builder.Hash();
        var chunks = Xorb.Builder.Chunks;
        var first = Xorb.Chunks.Take(3).Sum(c => c.Length);
        var rest = Xorb.Chunks.Skip(3).Sum(c => c.Length);
        var fetch = v2
            ? $$$"""
              "xorbs": {"{{{hash}}}": [{"url": "https://c/x", "ranges": [
                 {"chunks": {"start": 0, "end": 3}, "bytes": {"start": 0, "end": {{{chunks[2].End - 1}}} } },
                 {"chunks": {"start": 3, "end": 6}, "bytes": {"start": {{{chunks[3].Offset}}}, "end": {{{chunks[5].End - 1}}} } }]}]}
              """
            : $$$"""
              "fetch_info": {"{{{hash}}}": [
                 {"url": "https://c/x", "range": {"start": 0, "end": 3}, "url_range": {"start": 0, "end": {{{chunks[2].End - 1}}} } },
                 {"url": "https://c/y", "range": {"start": 3, "end": 6}, "url_range": {"start": {{{chunks[3].Offset}}}, "end": {{{chunks[5].End - 1}}} } }]}
              """;
        return $$$"""
        {"offset_into_first_range": 7,
         "terms": [{"hash": "{{{hash}}}", "unpacked_length": {{{first}}}, "range": {"start": 0, "end": 3}},
                   {"hash": "{{{hash}}}", "unpacked_length": {{{rest}}}, "range": {"start": 3, "end": 6}}],
         {{{fetch}}}}
        """;
    }

    [Fact]
    public void A_mutated_reconstruction_is_refused_or_planned_and_assembled_within_its_bounds()
    {
        var total = Xorb.Chunks.Sum(c => c.Length) - 7;
        var gen = from json in FuzzKit.Mutated(Reconstruction(v2: true), Reconstruction(v2: false))
                  from length in Gen.OneOf(Gen.Constant((long)total), Gen.Choose(0, total + 10).Select(i => (long)i))
                  select (json, length);
        FuzzKit.Check(gen, input => RefusedOrValid(() =>
        {
            var plan = XetFilePlan.Create(XetReconstructionReader.Parse(input.json), input.length);
            Assert.Equal(input.length, plan.Terms.Sum(t => t.Take));
            var output = new byte[plan.Length];
            foreach (var term in plan.Terms)
            {
                Assert.True(term.Skip >= 0 && term.Take > 0 && term.Skip + term.Take <= term.UnpackedLength);
                var range = plan.Fetches[term.FetchIndex].Ranges[term.RangeIndex];
                if (range.ByteEnd >= XorbBytes.Length)
                {
                    continue;
                }
                var decoded = XorbRangeDecoder.Decode(
                    XorbBytes.AsSpan((int)range.ByteStart, (int)range.ByteCount), range.ChunkCount, plan.MaxDecodedBytes(term.FetchIndex, term.RangeIndex));
                Assert.True(decoded.Data.Length <= plan.MaxDecodedBytes(term.FetchIndex, term.RangeIndex));
                term.CopyTo(decoded, output.AsSpan((int)term.OutputOffset));
            }
        }));
    }

    [Fact]
    public void A_mutated_xorb_range_is_refused_or_decodes_to_no_more_than_allowed()
    {
        var range = XorbBytes.AsSpan(0, Xorb.Builder.Chunks[^1].End).ToArray();
        var gen = from mutated in FuzzKit.MutatedBytes(range)
                  from cut in Gen.Choose(0, mutated.Length)
                  from truncate in Gen.Elements(true, false)
                  let bytes = truncate ? mutated[..cut] : mutated
                  from count in Gen.Choose(0, 10)
                  from max in Gen.OneOf(Gen.Constant(long.MaxValue), Gen.Choose(0, 200_000).Select(i => (long)i))
                  select (bytes, count, max);
        FuzzKit.Check(gen, input => RefusedOrValid(() =>
        {
            var decoded = XorbRangeDecoder.Decode(input.bytes, input.count, input.max);
            Assert.Equal(input.count, decoded.Count);
            Assert.True(decoded.Data.Length <= input.max);
        }));
    }

    [Fact]
    public void Chunk_headers_whose_lengths_lie_are_refused_before_anything_is_allocated()
    {
        var gen = from stored in Gen.Elements(0, 1, 7, 100, 0xFFFF, 0xFF_FFFF)
                  from raw in Gen.Elements(0, 1, 131_072, 131_073, 0xFF_FFFF)
                  from scheme in Gen.Choose(0, 3)
                  from chunks in Gen.Choose(1, 100_000)
                  select (stored, raw, scheme, chunks);
        FuzzKit.Check(gen, input =>
        {
            // One header repeated: a range claiming up to 100,000 chunks of up to 16 MiB each, with nothing behind them.
            var bytes = new byte[8 * Math.Min(input.chunks, 1000)];
            for (var i = 0; i < bytes.Length; i += 8)
            {
                bytes[i + 1] = (byte)input.stored;
                bytes[i + 2] = (byte)(input.stored >> 8);
                bytes[i + 3] = (byte)(input.stored >> 16);
                bytes[i + 4] = (byte)input.scheme;
                bytes[i + 5] = (byte)input.raw;
                bytes[i + 6] = (byte)(input.raw >> 8);
                bytes[i + 7] = (byte)(input.raw >> 16);
            }
            RefusedOrValid(() => Assert.True(XorbRangeDecoder.Decode(bytes, input.chunks, 1 << 20).Data.Length <= 1 << 20));
        });
    }

    [Fact]
    public void A_mutated_serialized_xorb_is_refused_or_reads_consistently()
    {
        FuzzKit.Check(FuzzKit.MutatedBytes(XorbBytes), bytes => RefusedOrValid(() =>
        {
            var xorb = XorbObject.Parse(bytes);
            Assert.True(xorb.Chunks.Count <= bytes.Length / 40);
            for (var i = 0; i < xorb.Chunks.Count; i++)
            {
                Assert.Equal(xorb.Chunks[i].UncompressedLength, xorb.ReadChunk(i).Length);
            }
        }));
    }

    [Fact]
    public void A_mutated_shard_is_refused_or_reads_within_its_bytes()
    {
        var real = File.ReadAllBytes(SharedFixtures.File("xet/gpt2-64-8bits.tflite.shard"));
        FuzzKit.Check(FuzzKit.MutatedBytes(real, real[..4096], LyingShard(real)), bytes => RefusedOrValid(() =>
        {
            var shard = XetShard.Parse(bytes);
            Assert.True(shard.Xorbs.Sum(x => x.Chunks.Count) + shard.Files.Sum(f => f.Terms.Count) <= bytes.Length / 48);
        }));
    }

    private static byte[] LyingShard(byte[] real)
    {
        var lying = real.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(lying.AsSpan(48 + 48 + 36), 0x7FFF_FFFF);
        return lying;
    }

    [Fact]
    public void A_mutated_lz4_frame_is_refused_or_fills_exactly_the_expected_bytes()
    {
        var text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{i % 300} ")));
        var frames = new[] { Lz4Frame.Encode(text), Lz4Frame.Encode(XetTestData.SplitMix(70_000, 9)), Lz4Frame.Encode([]) };
        var gen = from frame in FuzzKit.MutatedBytes(frames)
                  from length in Gen.Elements(0, 1, text.Length, 70_000, 131_072)
                  select (frame, length);
        FuzzKit.Check(gen, input => RefusedOrValid(() => Lz4Frame.Decode(input.frame, new byte[input.length])));
    }
}
