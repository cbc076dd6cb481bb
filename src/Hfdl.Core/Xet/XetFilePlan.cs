namespace Hfdl.Core.Xet;

/// <summary>
/// What to fetch and how to cut the bytes out, for <see cref="Length"/> bytes of a file from its
/// <see cref="XetReconstruction"/>: a pure function of the reconstruction, so it can be tested without a network.
/// <list type="number">
/// <item>Fetch each of <see cref="Fetches"/> (all its ranges, or range by range) from its signed URL.</item>
/// <item>Decode each fetched range with <see cref="XorbRangeDecoder.Decode"/>, bounded by <see cref="MaxDecodedBytes"/>.</item>
/// <item>For each of <see cref="Terms"/>, in order, <see cref="XetPlannedTerm.CopyTo"/> copies its bytes to
/// <see cref="XetPlannedTerm.OutputOffset"/> of the output: its chunks' raw bytes, less <see cref="XetPlannedTerm.Skip"/>
/// at the start (offset_into_first_range, first term only) and cut to <see cref="XetPlannedTerm.Take"/> at the end
/// (the last term of a range request).</item>
/// </list>
/// Several terms may share a fetched range (deduplicated chunks): decode it once and keep it until its last term.
/// </summary>
internal sealed class XetFilePlan
{
    private readonly long[][] _maxDecoded;

    private XetFilePlan(IReadOnlyList<XetFetch> fetches, IReadOnlyList<XetPlannedTerm> terms, long length, long[][] maxDecoded)
    {
        Fetches = fetches;
        Terms = terms;
        Length = length;
        _maxDecoded = maxDecoded;
    }

    /// <summary>The fetches the terms need, each once, in the order terms first need them.</summary>
    public IReadOnlyList<XetFetch> Fetches { get; }

    /// <summary>The terms in file order, each tied to the fetched range that holds its chunks.</summary>
    public IReadOnlyList<XetPlannedTerm> Terms { get; }

    /// <summary>The bytes the plan produces.</summary>
    public long Length { get; }

    /// <summary>All bytes the fetches download.</summary>
    public long FetchBytes => Fetches.Sum(f => f.ByteCount);

    /// <summary>
    /// The most raw bytes range <paramref name="rangeIndex"/> of fetch <paramref name="fetchIndex"/> may decode to: the
    /// lengths of the terms it serves, plus 128 KiB for each of its chunks no term uses. Pass it to the decoder so
    /// that a range whose headers claim more is refused before anything is allocated.
    /// </summary>
    public long MaxDecodedBytes(int fetchIndex, int rangeIndex) => _maxDecoded[fetchIndex][rangeIndex];

    /// <summary>
    /// Plans <paramref name="length"/> bytes (the whole file, or the length of the range the reconstruction was asked
    /// for, cut at the end of the file). A reconstruction that does not cover exactly that, or whose terms have no
    /// fetch, is refused with a <see cref="XetFormatException"/>.
    /// </summary>
    public static XetFilePlan Create(XetReconstruction reconstruction, long length)
    {
        ArgumentNullException.ThrowIfNull(reconstruction);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
        {
            return new XetFilePlan([], [], 0, []);
        }
        var terms = reconstruction.Terms;
        if (terms.Count == 0)
        {
            throw Invalid($"has no terms for {length} bytes");
        }
        if (reconstruction.OffsetIntoFirstRange >= terms[0].UnpackedLength)
        {
            throw Invalid($"skips {reconstruction.OffsetIntoFirstRange} bytes of a first term that has only {terms[0].UnpackedLength}");
        }
        var fetches = new List<XetFetch>();
        var fetchIndex = new Dictionary<XetFetch, int>(ReferenceEqualityComparer.Instance);
        var planned = new List<XetPlannedTerm>(terms.Count);
        var remaining = length;
        long output = 0;
        for (var i = 0; i < terms.Count; i++)
        {
            var term = terms[i];
            if (remaining == 0)
            {
                throw Invalid($"has {terms.Count - i} more terms than the {length} bytes need");
            }
            var (fetch, rangeIndex) = Locate(reconstruction.Fetches, term);
            if (!fetchIndex.TryGetValue(fetch, out var index))
            {
                index = fetches.Count;
                fetchIndex[fetch] = index;
                fetches.Add(fetch);
            }
            var skip = i == 0 ? reconstruction.OffsetIntoFirstRange : 0;
            var take = Math.Min(term.UnpackedLength - skip, remaining);
            var range = fetch.Ranges[rangeIndex];
            planned.Add(new XetPlannedTerm(index, rangeIndex, term.ChunkStart - range.ChunkStart, term.ChunkCount, term.UnpackedLength, skip, take, output));
            remaining -= take;
            output += take;
        }
        if (remaining > 0)
        {
            throw Invalid($"covers {length - remaining} of the {length} bytes asked for");
        }
        return new XetFilePlan(fetches, planned, length, MaxDecoded(fetches, planned));
    }

    /// <summary>The first fetch range of the term's xorb that holds all its chunks (as the spec and huggingface.js pick it).</summary>
    private static (XetFetch Fetch, int RangeIndex) Locate(IReadOnlyList<XetFetch> fetches, XetTerm term)
    {
        foreach (var fetch in fetches)
        {
            if (fetch.Xorb != term.Xorb)
            {
                continue;
            }
            for (var r = 0; r < fetch.Ranges.Count; r++)
            {
                if (fetch.Ranges[r].Covers(term.ChunkStart, term.ChunkEnd))
                {
                    return (fetch, r);
                }
            }
        }
        throw Invalid($"has a term for chunks {term.ChunkStart}-{term.ChunkEnd} of xorb {term.Xorb} that no fetch entry covers");
    }

    private static long[][] MaxDecoded(List<XetFetch> fetches, List<XetPlannedTerm> terms)
    {
        var result = new long[fetches.Count][];
        for (var f = 0; f < fetches.Count; f++)
        {
            var ranges = fetches[f].Ranges;
            result[f] = new long[ranges.Count];
            for (var r = 0; r < ranges.Count; r++)
            {
                var served = terms.Where(t => t.FetchIndex == f && t.RangeIndex == r).ToList();
                // Chunks no term uses: count the union of the terms' chunk intervals (sorted, merged).
                long covered = 0;
                var end = -1;
                foreach (var term in served.OrderBy(t => t.FirstChunk))
                {
                    var start = Math.Max(term.FirstChunk, end);
                    var stop = term.FirstChunk + term.ChunkCount;
                    if (stop > start)
                    {
                        covered += stop - start;
                        end = stop;
                    }
                }
                var unused = ranges[r].ChunkCount - covered;
                result[f][r] = served.Sum(t => t.UnpackedLength) + (unused * XorbChunkHeader.MaxUncompressedLength);
            }
        }
        return result;
    }

    private static XetFormatException Invalid(string problem) => new($"The reconstruction the server sent {problem}.");
}

/// <summary>
/// One term of a <see cref="XetFilePlan"/>: chunks <c>[FirstChunk, FirstChunk + ChunkCount)</c> of the decoded range
/// <see cref="RangeIndex"/> of fetch <see cref="FetchIndex"/> (counted from that range's first chunk).
/// </summary>
/// <param name="UnpackedLength">What those chunks must decode to, together.</param>
/// <param name="Skip">Bytes to drop at the start (only the first term: offset_into_first_range).</param>
/// <param name="Take">Bytes to keep after that.</param>
/// <param name="OutputOffset">Where the kept bytes go in the output.</param>
internal readonly record struct XetPlannedTerm(
    int FetchIndex, int RangeIndex, int FirstChunk, int ChunkCount, long UnpackedLength, long Skip, long Take, long OutputOffset)
{
    /// <summary>
    /// Copies this term's kept bytes from its decoded range into <paramref name="destination"/> (at least
    /// <see cref="Take"/> bytes, the output from <see cref="OutputOffset"/> on), after checking the chunks decode to
    /// <see cref="UnpackedLength"/>.
    /// </summary>
    public void CopyTo(XorbRangeChunks range, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(range);
        if (FirstChunk + ChunkCount > range.Count)
        {
            throw new XetFormatException($"A xorb range has {range.Count} chunks where a term needs chunks {FirstChunk} to {FirstChunk + ChunkCount - 1}.");
        }
        var bytes = range.Chunks(FirstChunk, ChunkCount);
        if (bytes.Length != UnpackedLength)
        {
            throw new XetFormatException($"A term's chunks decode to {bytes.Length} bytes where the reconstruction promised {UnpackedLength}.");
        }
        bytes.Slice((int)Skip, (int)Take).CopyTo(destination);
    }
}
