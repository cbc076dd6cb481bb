using System.Buffers.Binary;
using System.Text.Json;
using Hfdl.Core.Tests.Replay;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Tests.Xet;

public sealed class XetShardTests
{
    [Fact]
    public void The_real_shard_reads_as_huggingface_js_decodes_it()
    {
        var shard = XetShard.Parse(File.ReadAllBytes(SharedFixtures.File("xet/gpt2-64-8bits.tflite.shard")));
        using var json = JsonDocument.Parse(File.ReadAllText(SharedFixtures.File("xet/gpt2-64-8bits.tflite.shard.json")));
        var expected = json.RootElement;

        Assert.Empty(shard.Files);
        Assert.Equal(expected.GetProperty("hmac_key").GetString(), shard.Footer!.ChunkHashKey.ToString());
        var xorbs = expected.GetProperty("xorbs").EnumerateArray().ToList();
        Assert.Equal(xorbs.Count, shard.Xorbs.Count);
        for (var i = 0; i < xorbs.Count; i++)
        {
            Assert.Equal(xorbs[i].GetProperty("hash").GetString(), shard.Xorbs[i].Hash.ToString());
            Assert.Equal(
                xorbs[i].GetProperty("chunk_hashes").EnumerateArray().Select(h => h.GetString()),
                shard.Xorbs[i].Chunks.Select(c => c.Hash.ToString()));
            // Raw offsets run on from chunk to chunk and add up to the xorb's raw size.
            var chunks = shard.Xorbs[i].Chunks;
            for (var c = 1; c < chunks.Count; c++)
            {
                Assert.Equal(chunks[c - 1].RawStart + chunks[c - 1].RawLength, chunks[c].RawStart);
            }
            Assert.Equal(shard.Xorbs[i].RawBytes, chunks[^1].RawStart + chunks[^1].RawLength);
        }
    }

    [Fact]
    public void A_shard_with_file_reconstructions_reads_its_terms_verification_and_sha256()
    {
        var file = XetHash.FromBytes([.. Enumerable.Range(1, 32).Select(i => (byte)i)]);
        var xorb = XetHash.FromBytes([.. Enumerable.Range(50, 32).Select(i => (byte)i)]);
        var verification = XetHash.FromBytes([.. Enumerable.Range(90, 32).Select(i => (byte)i)]);
        var sha = XetHash.FromBytes([.. Enumerable.Range(130, 32).Select(i => (byte)i)]);
        var bytes = new List<byte>();
        bytes.AddRange(File.ReadAllBytes(SharedFixtures.File("xet/gpt2-64-8bits.tflite.shard")).AsSpan(0, 32).ToArray());
        bytes.AddRange(U64(2));
        bytes.AddRange(U64(0));
        bytes.AddRange(Entry(file, 0xC000_0000, 1, 0, 0));
        bytes.AddRange(Entry(xorb, 0, 1234, 3, 7));
        bytes.AddRange(Entry(verification, 0, 0, 0, 0));
        bytes.AddRange(Entry(sha, 0, 0, 0, 0));
        bytes.AddRange(Bookend());
        bytes.AddRange(Bookend());

        var shard = XetShard.Parse(bytes.ToArray());

        var parsed = Assert.Single(shard.Files);
        Assert.Equal(file, parsed.FileHash);
        Assert.Equal(sha, parsed.Sha256);
        Assert.Equal(new XetShardTerm(xorb, 1234, 3, 7, verification), Assert.Single(parsed.Terms));
        Assert.Empty(shard.Xorbs);
        Assert.Null(shard.Footer);
    }

    [Fact]
    public void A_shard_cut_short_or_claiming_more_entries_than_it_holds_is_refused()
    {
        var real = File.ReadAllBytes(SharedFixtures.File("xet/gpt2-64-8bits.tflite.shard"));

        Assert.Throws<XetFormatException>(() => XetShard.Parse(real.AsSpan(0, real.Length / 2)));
        var lying = real.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(lying.AsSpan(48 + 48 + 36), uint.MaxValue);
        Assert.Throws<XetFormatException>(() => XetShard.Parse(lying));
        Assert.Throws<XetFormatException>(() => XetShard.Parse(new byte[48]));
    }

    private static byte[] U64(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] Entry(XetHash hash, uint a, uint b, uint c, uint d)
    {
        var bytes = new byte[48];
        hash.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(32), a);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(36), b);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(40), c);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(44), d);
        return bytes;
    }

    private static byte[] Bookend() => [.. Enumerable.Repeat((byte)0xFF, 32), .. new byte[16]];
}
