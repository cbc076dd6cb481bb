using System.Security.Cryptography;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Xet;
using FuzzKit = Hfdl.Core.Tests.Fuzz.Fuzz;

namespace Hfdl.Core.Tests.Xet;

public sealed class XetCompressionTests
{
    public static TheoryData<string, int> Inputs => new()
    {
        { "random", 0 }, { "random", 1 }, { "random", 3 }, { "random", 4 }, { "random", 5 }, { "random", 65_535 },
        { "random", 65_536 }, { "random", 65_537 }, { "random", 131_072 }, { "zeros", 131_072 }, { "zeros", 7 },
        { "floats", 100_002 }, { "text", 70_001 },
    };

    private static byte[] Make(string kind, int length) => kind switch
    {
        "random" => XetTestData.SplitMix(length, (ulong)length),
        "zeros" => new byte[length],
        "floats" => XetTestData.Floats(length, 3),
        _ => Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, (length / 10) + 1).Select(i => $"word{i % 50:D5} "))).AsSpan(0, length).ToArray(),
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Every_scheme_gives_back_what_it_stored(string kind, int length)
    {
        var data = Make(kind, length);
        foreach (var scheme in Enum.GetValues<XetCompression>())
        {
            var stored = XetChunkCodec.Compress(scheme, data);
            var decoded = new byte[data.Length];

            XetChunkCodec.Decompress(scheme, stored, decoded);

            Assert.Equal(data, decoded);
        }
    }

    [Fact]
    public void Compressible_chunks_get_smaller_and_incompressible_ones_grow_by_a_frame_header_only()
    {
        Assert.True(XetChunkCodec.Compress(XetCompression.Lz4, Make("text", 65_536)).Length < 20_000);
        Assert.True(XetChunkCodec.Compress(XetCompression.ByteGrouping4Lz4, Make("floats", 65_536)).Length
            < XetChunkCodec.Compress(XetCompression.Lz4, Make("floats", 65_536)).Length);
        Assert.Equal(131_072 + 7 + 8 + 4, XetChunkCodec.Compress(XetCompression.Lz4, Make("random", 131_072)).Length);
    }

    [Fact]
    public void Byte_grouping_puts_each_position_modulo_four_together_the_first_groups_longer()
    {
        // spec xorb.md: [A1 A2 A3 A4 B1 B2 B3 B4 C1 C2] → [A1 B1 C1 A2 B2 C2 A3 B3 A4 B4].
        byte[] data = [0xA1, 0xA2, 0xA3, 0xA4, 0xB1, 0xB2, 0xB3, 0xB4, 0xC1, 0xC2];
        var grouped = new byte[data.Length];
        XetChunkCodec.SplitBytes(data, grouped);

        Assert.Equal([0xA1, 0xB1, 0xC1, 0xA2, 0xB2, 0xC2, 0xA3, 0xB3, 0xA4, 0xB4], grouped);
        var back = new byte[data.Length];
        XetChunkCodec.RegroupBytes(grouped, back);
        Assert.Equal(data, back);
    }

    [Fact]
    public void Byte_grouping_of_any_length_is_the_specs_definition_and_undoes_itself()
    {
        var gen = from length in Gen.Choose(0, 2000)
                  from bytes in Gen.Choose(0, 255).Select(i => (byte)i).ArrayOf(length)
                  select bytes;
        FuzzKit.Check(gen, data =>
        {
            // The definition, byte by byte: group g holds bytes g, g + 4, g + 8, …; the groups in order.
            var expected = Enumerable.Range(0, 4).SelectMany(g => data.Where((_, i) => i % 4 == g)).ToArray();
            var grouped = new byte[data.Length];
            XetChunkCodec.SplitBytes(data, grouped);
            var back = new byte[data.Length];
            XetChunkCodec.RegroupBytes(grouped, back);

            Assert.Equal(expected, grouped);
            Assert.Equal(data, back);
        });
    }

    [Theory]
    [InlineData("default.lz4")]
    [InlineData("independent.lz4")]
    [InlineData("linked-checksummed.lz4")]
    public void Frames_of_the_reference_lz4_tool_are_read(string file)
    {
        var frame = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Xet", "Lz4Reference", file));
        var expected = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 3000).Select(i => $"line {i % 977} of a patterned text that lz4 compresses well\n")))[..70_000];
        Assert.Equal("cacba9785f83647853011c64338db64d44c2ea9cc37e355dc8bfa64bfc171978", Convert.ToHexStringLower(SHA256.HashData(expected)));

        var decoded = new byte[expected.Length];
        Lz4Frame.Decode(frame, decoded);

        Assert.Equal(expected, decoded);
    }

    [Fact]
    public void Frames_are_written_with_the_header_the_reference_tool_writes_for_the_same_options()
    {
        // `lz4 -BI --no-frame-crc` starts its frames with these 7 bytes (magic, FLG 0x60, BD 0x40, header checksum 0x82).
        var frame = Lz4Frame.Encode(Encoding.ASCII.GetBytes("hello hello hello hello"));

        Assert.Equal([0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82], frame[..7]);
        Assert.Equal([0, 0, 0, 0], frame[^4..]);
    }

    [Theory]
    [InlineData("", 0x02CC5D05u)]
    [InlineData("a", 0x550D7456u)]
    [InlineData("abc", 0x32D153FFu)]
    [InlineData("Nobody inspects the spammish repetition", 0xE2293B2Fu)]
    public void XxHash32_matches_the_reference_values(string text, uint expected) =>
        Assert.Equal(expected, XxHash32.Hash(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void A_frame_that_decodes_to_more_or_fewer_bytes_than_the_header_says_is_refused()
    {
        var frame = Lz4Frame.Encode(new byte[1000]);

        Assert.Throws<XetFormatException>(() => Lz4Frame.Decode(frame, new byte[999]));
        Assert.Throws<XetFormatException>(() => Lz4Frame.Decode(frame, new byte[1001]));
        Assert.Throws<XetFormatException>(() => Lz4Frame.Decode(frame[..^1], new byte[1000]));
        Assert.Throws<XetFormatException>(() => Lz4Frame.Decode([.. frame, 0], new byte[1000]));
    }
}
