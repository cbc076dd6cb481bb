using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Xet;
using FuzzKit = Hfdl.Core.Tests.Fuzz.Fuzz;

namespace Hfdl.Core.Tests.Xet;

public sealed class MultipartByteRangesTests
{
    private static byte[] Body(string boundary, params (long Start, byte[] Data)[] parts)
    {
        var body = new List<byte>(Encoding.ASCII.GetBytes("preamble\r\n"));
        foreach (var (start, data) in parts)
        {
            body.AddRange(Encoding.ASCII.GetBytes($"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {start}-{start + data.Length - 1}/5000\r\n\r\n"));
            body.AddRange(data);
            body.AddRange("\r\n"u8.ToArray());
        }
        body.AddRange(Encoding.ASCII.GetBytes($"--{boundary}--\r\n"));
        return [.. body];
    }

    [Fact]
    public void Parts_are_read_by_their_content_range_even_when_the_data_holds_the_boundary()
    {
        var tricky = Encoding.ASCII.GetBytes("abc\r\n--B\r\nContent-Range: bytes 0-1/2\r\n\r\nxy\r\n--B--\r\n");
        var body = Body("B", (100, tricky), (2000, [1, 2, 3]));

        var parts = MultipartByteRanges.Parse(body, "B");

        Assert.Equal([(100L, 100L + tricky.Length - 1), (2000L, 2002L)], parts.Select(p => (p.Start, p.End)));
        Assert.Equal(tricky, body.AsSpan(parts[0].DataOffset, parts[0].DataLength).ToArray());
        Assert.Equal(new byte[] { 1, 2, 3 }, body.AsSpan(parts[1].DataOffset, parts[1].DataLength).ToArray());
        Assert.All(parts, p => Assert.Equal(5000, p.Total));
    }

    [Theory]
    [InlineData("multipart/byteranges; boundary=3d6b6a416f9b5", "3d6b6a416f9b5")]
    [InlineData("multipart/byteranges; boundary=\"quoted\"", "quoted")]
    [InlineData("application/octet-stream", null)]
    [InlineData("multipart/byteranges", null)]
    public void The_boundary_comes_from_the_content_type(string contentType, string? boundary) =>
        Assert.Equal(boundary, MultipartByteRanges.Boundary(contentType));

    [Fact]
    public void A_part_cut_short_or_without_its_boundary_is_refused()
    {
        var body = Body("B", (0, new byte[100]));

        Assert.Throws<XetFormatException>(() => MultipartByteRanges.Parse(body.AsSpan(0, body.Length - 20), "B"));
        Assert.Throws<XetFormatException>(() => MultipartByteRanges.Parse(body, "C"));
        Assert.Throws<XetFormatException>(() => MultipartByteRanges.Parse(Encoding.ASCII.GetBytes("--B--\r\n"), "B"));
    }

    [Fact]
    public void A_mutated_body_is_refused_or_yields_parts_inside_it()
    {
        var body = Body("B", (10, Encoding.ASCII.GetBytes("hello world")), (400, new byte[300]), (9000, [7]));
        FuzzKit.Check(FuzzKit.MutatedBytes(body), bytes =>
        {
            try
            {
                foreach (var part in MultipartByteRanges.Parse(bytes, "B"))
                {
                    Assert.True(part.DataOffset >= 0 && part.DataOffset + part.DataLength <= bytes.Length);
                    Assert.Equal(part.End - part.Start + 1, part.DataLength);
                }
            }
            catch (XetFormatException)
            {
            }
        });
    }

    /// <summary>Feeds <paramref name="body"/> to a streaming reader in pieces of <paramref name="cut"/> bytes; returns each range's data.</summary>
    private static async Task<(List<byte>[] Parts, bool Complete)> StreamAsync(byte[] body, int cut, params (long Start, long End)[] ranges)
    {
        var reader = new MultipartByteRangeReader("B", ranges);
        var parts = ranges.Select(_ => new List<byte>()).ToArray();
        for (var at = 0; at < body.Length; at += cut)
        {
            await reader.WriteAsync(body.AsMemory(at, Math.Min(cut, body.Length - at)), (part, data, _) =>
            {
                parts[part].AddRange(data.ToArray());
                return ValueTask.CompletedTask;
            }, CancellationToken.None);
        }
        return (parts, reader.IsComplete);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100_000)]
    public async Task A_streamed_body_yields_each_range_in_any_cut_of_its_bytes(int cut)
    {
        var tricky = Encoding.ASCII.GetBytes("abc\r\n--B\r\nContent-Range: bytes 0-1/2\r\n\r\nxy\r\n--B--\r\n");
        var body = Body("B", (100, tricky), (2000, [1, 2, 3]));

        var (parts, complete) = await StreamAsync(body, cut, (100, 100 + tricky.Length - 1), (2000, 2002));

        Assert.True(complete);
        Assert.Equal(tricky, parts[0]);
        Assert.Equal([1, 2, 3], parts[1]);
    }

    [Fact]
    public async Task A_streamed_body_that_is_not_exactly_the_ranges_asked_for_is_refused()
    {
        var body = Body("B", (100, new byte[10]), (2000, [1, 2, 3]));

        // Other order, a range too many asked for, a range missing, a part for other bytes, a torrent after the end.
        await Assert.ThrowsAsync<XetFormatException>(() => StreamAsync(body, 5, (2000, 2002), (100, 109)));
        await Assert.ThrowsAsync<XetFormatException>(() => StreamAsync(body, 5, (100, 109), (2000, 2002), (3000, 3001)));
        await Assert.ThrowsAsync<XetFormatException>(() => StreamAsync(body, 5, (100, 109)));
        await Assert.ThrowsAsync<XetFormatException>(() => StreamAsync(Body("B", (100, new byte[11])), 5, (100, 109)));
        await Assert.ThrowsAsync<XetFormatException>(() => StreamAsync([.. body, .. new byte[10_000]], 5, (100, 109), (2000, 2002)));
        var (_, complete) = await StreamAsync(body[..^12], 5, (100, 109), (2000, 2002));
        Assert.False(complete);
    }
}
