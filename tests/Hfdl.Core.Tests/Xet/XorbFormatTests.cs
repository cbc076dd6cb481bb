using System.Buffers.Binary;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Tests.Xet;

public sealed class XorbFormatTests
{
    /// <summary>Chunks of a few kinds, each stored with one of the three schemes in turn.</summary>
    internal static (XorbBuilder Builder, List<byte[]> Chunks) Build(int chunkCount = 9)
    {
        var builder = new XorbBuilder();
        var chunks = new List<byte[]>();
        for (var i = 0; i < chunkCount; i++)
        {
            var data = (i % 3) switch
            {
                0 => XetTestData.SplitMix(10_000 + (i * 997), (ulong)i),
                1 => XetTestData.Floats(20_000 + i, i),
                _ => new byte[9_000 + i],
            };
            builder.Add(data, (XetCompression)(i % 3));
            chunks.Add(data);
        }
        return (builder, chunks);
    }

    [Fact]
    public void A_built_xorb_reads_back_with_its_hash_chunks_and_layout()
    {
        var (builder, chunks) = Build();
        var bytes = builder.ToArray();

        var xorb = XorbObject.Parse(bytes);

        Assert.Equal(builder.Hash(), xorb.Hash);
        Assert.Equal(XetHashing.XorbHash([.. chunks.Select(c => new XetChunkRef(XetHashing.ChunkHash(c), (ulong)c.Length))]), xorb.Hash);
        Assert.Equal(chunks.Count, xorb.Chunks.Count);
        for (var i = 0; i < chunks.Count; i++)
        {
            Assert.Equal(chunks[i], xorb.ReadChunk(i));
            Assert.Equal(builder.Chunks[i], xorb.Chunks[i]);
        }
        Assert.Equal(bytes.Length, builder.SerializedLength);
        // The fixed tail the spec draws: num_chunks at -32, info length in the last 4 bytes.
        Assert.Equal((uint)chunks.Count, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 32)));
        Assert.Equal((uint)(bytes.Length - 4 - builder.Chunks[^1].End), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)));
    }

    [Fact]
    public void Chunk_headers_hold_version_lengths_and_scheme_as_the_spec_lays_them_out()
    {
        var (builder, chunks) = Build(3);
        var bytes = builder.ToArray();

        for (var i = 0; i < 3; i++)
        {
            var at = builder.Chunks[i].Offset;
            Assert.Equal(0, bytes[at]);
            Assert.Equal(builder.Chunks[i].SerializedLength - 8, bytes[at + 1] | (bytes[at + 2] << 8) | (bytes[at + 3] << 16));
            Assert.Equal(i, bytes[at + 4]);
            Assert.Equal(chunks[i].Length, bytes[at + 5] | (bytes[at + 6] << 8) | (bytes[at + 7] << 16));
        }
    }

    [Fact]
    public void A_range_of_chunks_decodes_to_their_raw_bytes()
    {
        var (builder, chunks) = Build();
        var bytes = builder.ToArray();
        var first = builder.Chunks[2];
        var last = builder.Chunks[6];

        var range = XorbRangeDecoder.Decode(bytes.AsSpan(first.Offset, last.End - first.Offset), expectedChunks: 5, maxDecodedBytes: long.MaxValue);

        Assert.Equal(5, range.Count);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(chunks[2 + i], range.Chunk(i).ToArray());
        }
        Assert.Equal(chunks.Skip(3).Take(2).SelectMany(c => c), range.Chunks(1, 2).ToArray());
    }

    [Fact]
    public void A_range_cut_short_too_long_or_claiming_too_much_is_refused()
    {
        var (builder, _) = Build();
        var bytes = builder.ToArray();
        var end = builder.Chunks[^1].End;

        Assert.Throws<XetFormatException>(() => XorbRangeDecoder.Decode(bytes.AsSpan(0, end - 1), 9, long.MaxValue));
        Assert.Throws<XetFormatException>(() => XorbRangeDecoder.Decode(bytes.AsSpan(0, builder.Chunks[0].End + 5), 2, long.MaxValue));
        Assert.Throws<XetFormatException>(() => XorbRangeDecoder.Decode(bytes.AsSpan(0, end), 8, long.MaxValue));
        Assert.Throws<XetFormatException>(() => XorbRangeDecoder.Decode(bytes.AsSpan(0, end), 10, long.MaxValue));
        Assert.Throws<XetFormatException>(() => XorbRangeDecoder.Decode(bytes.AsSpan(0, end), 9, 1000));
    }

    [Fact]
    public void A_flipped_byte_in_a_chunk_is_caught_when_the_chunk_is_checked()
    {
        var (builder, _) = Build();
        var bytes = builder.ToArray();
        bytes[builder.Chunks[0].Offset + 100] ^= 0x40;

        var xorb = XorbObject.Parse(bytes);

        Assert.Throws<XetFormatException>(() => xorb.ReadChunk(0));
    }

    [Theory]
    [InlineData(0, 1)]     // header version
    [InlineData(4, 7)]     // compression scheme
    [InlineData(7, 0x10)]  // uncompressed length past 128 KiB
    public void A_chunk_header_that_breaks_a_rule_is_refused(int offset, byte value)
    {
        var header = new byte[8];
        new XorbChunkHeader(10, XetCompression.None, 10).Write(header);
        header[offset] = value;

        Assert.Throws<XetFormatException>(() => XorbChunkHeader.Read(header));
    }

    [Fact]
    public void The_limits_of_a_xorb_are_the_specs()
    {
        var builder = new XorbBuilder();

        Assert.True(builder.Fits(XorbBuilder.MaxSerializedBytes - 8 - XorbBuilder.FooterLength(1)));
        Assert.False(builder.Fits(XorbBuilder.MaxSerializedBytes - 8 - XorbBuilder.FooterLength(1) + 1));
        Assert.Equal(64 * 1024 * 1024, XorbBuilder.MaxSerializedBytes);
        Assert.Equal(8192, XorbBuilder.MaxChunks);
    }
}
