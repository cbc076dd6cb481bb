using System.Globalization;
using System.Text.Json;

namespace Hfdl.Core.Xet;

/// <summary>
/// A file's reconstruction (spec download-protocol.md, api.md), read from a v1 or v2 answer and checked: terms in file
/// order, and the signed fetches that hold their chunks. v1 <c>fetch_info</c> entries become fetches of one range.
/// </summary>
/// <param name="OffsetIntoFirstRange">Raw bytes of the first term before the requested range starts.</param>
internal sealed record XetReconstruction(long OffsetIntoFirstRange, IReadOnlyList<XetTerm> Terms, IReadOnlyList<XetFetch> Fetches)
{
    /// <summary>The raw bytes the terms decode to, all together.</summary>
    public long UnpackedLength => Terms.Sum(t => t.UnpackedLength);
}

/// <summary>Chunks <c>[ChunkStart, ChunkEnd)</c> of a xorb, <paramref name="UnpackedLength"/> raw bytes together.</summary>
internal readonly record struct XetTerm(XetHash Xorb, int ChunkStart, int ChunkEnd, long UnpackedLength)
{
    public int ChunkCount => ChunkEnd - ChunkStart;
}

/// <summary>
/// One signed URL of a xorb and the ranges it authorises, ascending. Fetch them with exactly <see cref="RangeHeader"/>
/// (several ranges: a <c>multipart/byteranges</c> answer, one part per range), or one range at a time with
/// <see cref="XetFetchRange.RangeHeader"/>; send no <c>Authorization</c>.
/// </summary>
internal sealed record XetFetch(XetHash Xorb, Uri Url, IReadOnlyList<XetFetchRange> Ranges)
{
    /// <summary>The <c>Range</c> header for all ranges at once: <c>bytes=a-b,c-d</c>.</summary>
    public string RangeHeader => "bytes=" + string.Join(',', Ranges.Select(r => r.Spec));

    /// <summary>The bytes all ranges hold.</summary>
    public long ByteCount => Ranges.Sum(r => r.ByteCount);
}

/// <summary>Chunks <c>[ChunkStart, ChunkEnd)</c> stored in xorb bytes <c>[ByteStart, ByteEnd]</c> (end inclusive).</summary>
internal readonly record struct XetFetchRange(int ChunkStart, int ChunkEnd, long ByteStart, long ByteEnd)
{
    public int ChunkCount => ChunkEnd - ChunkStart;

    public long ByteCount => ByteEnd - ByteStart + 1;

    /// <summary><c>a-b</c>.</summary>
    public string Spec => ByteStart.ToString(CultureInfo.InvariantCulture) + "-" + ByteEnd.ToString(CultureInfo.InvariantCulture);

    /// <summary>The <c>Range</c> header for this range alone: <c>bytes=a-b</c>.</summary>
    public string RangeHeader => "bytes=" + Spec;

    public bool Covers(int chunkStart, int chunkEnd) => ChunkStart <= chunkStart && ChunkEnd >= chunkEnd;
}

/// <summary>Reads and checks reconstruction answers.</summary>
internal static class XetReconstructionReader
{
    /// <summary>
    /// The most bytes one serialized chunk can take: its header, and an LZ4 frame of 128 KiB in two 64 KiB blocks at
    /// LZ4's worst-case expansion. A range holding more bytes per chunk than this is not a range of chunks.
    /// </summary>
    public const int MaxSerializedChunk = XorbChunkHeader.Size + 7 + 4 + (2 * (4 + 65536 + (65536 / 255) + 16)) + 4;

    /// <summary>Parses a v1 or v2 answer (UTF-8 JSON); a <see cref="XetFormatException"/> says what is wrong.</summary>
    public static XetReconstruction Parse(ReadOnlySpan<byte> json)
    {
        XetReconstructionJson? document;
        try
        {
            document = JsonSerializer.Deserialize(json, XetJsonContext.Default.XetReconstructionJson);
        }
        catch (JsonException ex)
        {
            throw new XetFormatException("The reconstruction the server sent is not valid JSON.", ex);
        }
        return FromJson(document ?? throw new XetFormatException("The reconstruction the server sent is empty (null)."));
    }

    /// <summary>Checks a parsed answer and turns it into a <see cref="XetReconstruction"/>.</summary>
    public static XetReconstruction FromJson(XetReconstructionJson json)
    {
        if (json.OffsetIntoFirstRange < 0)
        {
            throw Invalid("has a negative offset_into_first_range");
        }
        if (json.Terms is null)
        {
            throw Invalid("has no terms");
        }
        var fetches = new List<XetFetch>();
        if (json.Xorbs is not null)
        {
            foreach (var (key, entries) in json.Xorbs)
            {
                var xorb = XetHash.Parse(key, "xorb hash in the reconstruction");
                foreach (var entry in entries ?? [])
                {
                    var ranges = (entry?.Ranges ?? throw Invalid($"has a fetch entry of xorb {xorb} without ranges"))
                        .Select(r => Range(r?.Chunks, r?.Bytes, xorb)).ToList();
                    if (ranges.Count == 0)
                    {
                        throw Invalid($"has a fetch entry of xorb {xorb} without ranges");
                    }
                    for (var i = 1; i < ranges.Count; i++)
                    {
                        if (ranges[i].ByteStart <= ranges[i - 1].ByteEnd || ranges[i].ChunkStart < ranges[i - 1].ChunkEnd)
                        {
                            throw Invalid($"has ranges of xorb {xorb} that overlap or are out of order");
                        }
                    }
                    fetches.Add(new XetFetch(xorb, Url(entry.Url, xorb), ranges));
                }
            }
        }
        else if (json.FetchInfo is not null)
        {
            foreach (var (key, entries) in json.FetchInfo)
            {
                var xorb = XetHash.Parse(key, "xorb hash in the reconstruction");
                foreach (var entry in entries ?? [])
                {
                    fetches.Add(new XetFetch(xorb, Url(entry?.Url, xorb), [Range(entry?.Range, entry?.UrlRange, xorb)]));
                }
            }
        }
        else if (json.Terms.Count > 0)
        {
            throw Invalid("says where none of its chunks are (neither xorbs nor fetch_info)");
        }

        var terms = new List<XetTerm>(json.Terms.Count);
        foreach (var term in json.Terms)
        {
            if (term?.Range is not { } range)
            {
                throw Invalid("has a term without a chunk range");
            }
            var xorb = XetHash.Parse(term.Hash ?? "", "xorb hash of a term");
            var (start, end) = Chunks(range, xorb);
            var count = end - start;
            if (term.UnpackedLength < count || term.UnpackedLength > (long)count * XorbChunkHeader.MaxUncompressedLength)
            {
                throw Invalid($"has a term of xorb {xorb} whose {count} chunks cannot hold {term.UnpackedLength} bytes");
            }
            if (!fetches.Any(f => f.Xorb == xorb && f.Ranges.Any(r => r.Covers(start, end))))
            {
                throw Invalid($"has a term for chunks {start}-{end} of xorb {xorb} that no fetch entry covers");
            }
            terms.Add(new XetTerm(xorb, start, end, term.UnpackedLength));
        }
        return new XetReconstruction(json.OffsetIntoFirstRange, terms, fetches);
    }

    private static XetFetchRange Range(XetRangeJson? chunks, XetRangeJson? bytes, XetHash xorb)
    {
        if (chunks is null || bytes is null)
        {
            throw Invalid($"has a fetch range of xorb {xorb} without its chunk or byte range");
        }
        var (start, end) = Chunks(chunks, xorb);
        if (bytes.Start < 0 || bytes.End < bytes.Start)
        {
            throw Invalid($"has a byte range {bytes.Start}-{bytes.End} of xorb {xorb} that is empty or negative");
        }
        var byteCount = bytes.End - bytes.Start + 1;
        var count = end - start;
        if (byteCount < (long)count * XorbChunkHeader.Size || byteCount > (long)count * MaxSerializedChunk)
        {
            throw Invalid($"has a byte range of xorb {xorb} whose {byteCount} bytes cannot hold its {count} chunks");
        }
        return new XetFetchRange(start, end, bytes.Start, bytes.End);
    }

    private static (int Start, int End) Chunks(XetRangeJson range, XetHash xorb)
    {
        if (range.Start < 0 || range.End <= range.Start || range.End > int.MaxValue)
        {
            throw Invalid($"has a chunk range {range.Start}-{range.End} of xorb {xorb} that is empty or out of bounds");
        }
        return ((int)range.Start, (int)range.End);
    }

    private static Uri Url(string? text, XetHash xorb)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
        {
            throw Invalid($"has a fetch URL for xorb {xorb} that is not an http(s) URL");
        }
        return url;
    }

    private static XetFormatException Invalid(string problem) => new($"The reconstruction the server sent {problem}.");
}
