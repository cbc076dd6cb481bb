using System.Buffers.Binary;

namespace Hfdl.Core.Xet;

/// <summary>
/// An MDB shard (spec shard.md): file reconstructions (file info section) and xorb chunk tables (CAS info section),
/// as uploads send them and the global-dedup API returns them.
/// </summary>
internal sealed record XetShard(IReadOnlyList<XetShardFile> Files, IReadOnlyList<XetShardXorb> Xorbs, XetShardFooter? Footer)
{
    private const int EntrySize = 48;
    private const int HeaderSize = 48;
    private const int FooterSize = 200;
    private const uint WithVerification = 0x8000_0000;
    private const uint WithMetadata = 0x4000_0000;

    /// <summary>"HFRepoMetaData\0" and 17 fixed bytes (MDB_SHARD_HEADER_TAG).</summary>
    private static ReadOnlySpan<byte> HeaderTag =>
    [
        (byte)'H', (byte)'F', (byte)'R', (byte)'e', (byte)'p', (byte)'o', (byte)'M', (byte)'e', (byte)'t', (byte)'a',
        (byte)'D', (byte)'a', (byte)'t', (byte)'a', 0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205,
        209, 74, 169,
    ];

    /// <summary>
    /// Parses a shard, with or without its footer, reading the sections in order up to their bookends. Every count is
    /// checked against the bytes left before anything is allocated; a <see cref="XetFormatException"/> says what is wrong.
    /// </summary>
    public static XetShard Parse(ReadOnlySpan<byte> shard)
    {
        if (shard.Length < HeaderSize || !shard[..32].SequenceEqual(HeaderTag))
        {
            throw Invalid("does not start with the shard header tag");
        }
        if (BinaryPrimitives.ReadUInt64LittleEndian(shard[32..]) != 2)
        {
            throw Invalid("has a header version other than 2");
        }
        var footerSize = BinaryPrimitives.ReadUInt64LittleEndian(shard[40..]);
        if (footerSize != 0 && footerSize != FooterSize)
        {
            throw Invalid($"declares a footer of {footerSize} bytes; a footer has {FooterSize} or is left out");
        }
        var end = shard.Length - (int)footerSize;
        if (end < HeaderSize)
        {
            throw Invalid("is shorter than its header and footer");
        }
        var body = shard[..end];
        var position = HeaderSize;

        var files = new List<XetShardFile>();
        while (true)
        {
            var entry = Entry(body, position, "file info section");
            position += EntrySize;
            if (IsBookend(entry))
            {
                break;
            }
            var hash = XetHash.FromBytes(entry[..32]);
            var flags = BinaryPrimitives.ReadUInt32LittleEndian(entry[32..]);
            var termCount = BinaryPrimitives.ReadUInt32LittleEndian(entry[36..]);
            var perTerm = (flags & WithVerification) != 0 ? 2 : 1;
            if (termCount > (ulong)((body.Length - position) / EntrySize / perTerm))
            {
                throw Invalid($"claims {termCount} terms for file {hash}, more than its bytes hold");
            }
            var terms = new XetShardTerm[termCount];
            for (var i = 0; i < terms.Length; i++)
            {
                var term = Entry(body, position, "file info section");
                position += EntrySize;
                var start = BinaryPrimitives.ReadUInt32LittleEndian(term[40..]);
                var stop = BinaryPrimitives.ReadUInt32LittleEndian(term[44..]);
                if (stop <= start)
                {
                    throw Invalid($"has an empty chunk range {start}-{stop} in file {hash}");
                }
                terms[i] = new XetShardTerm(
                    XetHash.FromBytes(term[..32]),
                    BinaryPrimitives.ReadUInt32LittleEndian(term[36..]),
                    start,
                    stop,
                    null);
            }
            if ((flags & WithVerification) != 0)
            {
                for (var i = 0; i < terms.Length; i++)
                {
                    terms[i] = terms[i] with { VerificationHash = XetHash.FromBytes(Entry(body, position, "file info section")[..32]) };
                    position += EntrySize;
                }
            }
            XetHash? sha256 = null;
            if ((flags & WithMetadata) != 0)
            {
                sha256 = XetHash.FromBytes(Entry(body, position, "file info section")[..32]);
                position += EntrySize;
            }
            files.Add(new XetShardFile(hash, terms, sha256));
        }

        var xorbs = new List<XetShardXorb>();
        while (true)
        {
            var entry = Entry(body, position, "CAS info section");
            position += EntrySize;
            if (IsBookend(entry))
            {
                break;
            }
            var hash = XetHash.FromBytes(entry[..32]);
            var chunkCount = BinaryPrimitives.ReadUInt32LittleEndian(entry[36..]);
            if (chunkCount > (ulong)((body.Length - position) / EntrySize))
            {
                throw Invalid($"claims {chunkCount} chunks for xorb {hash}, more than its bytes hold");
            }
            var chunks = new XetShardChunk[chunkCount];
            for (var i = 0; i < chunks.Length; i++)
            {
                var chunk = Entry(body, position, "CAS info section");
                position += EntrySize;
                chunks[i] = new XetShardChunk(
                    XetHash.FromBytes(chunk[..32]),
                    BinaryPrimitives.ReadUInt32LittleEndian(chunk[32..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(chunk[36..]));
            }
            xorbs.Add(new XetShardXorb(
                hash,
                chunks,
                BinaryPrimitives.ReadUInt32LittleEndian(entry[40..]),
                BinaryPrimitives.ReadUInt32LittleEndian(entry[44..])));
        }
        if (position != body.Length)
        {
            throw Invalid("has bytes after its CAS info section");
        }
        return new XetShard(files, xorbs, footerSize == 0 ? null : ReadFooter(shard[end..], end));
    }

    private static XetShardFooter ReadFooter(ReadOnlySpan<byte> footer, int footerOffset)
    {
        if (BinaryPrimitives.ReadUInt64LittleEndian(footer) != 1)
        {
            throw Invalid("has a footer version other than 1");
        }
        if (BinaryPrimitives.ReadUInt64LittleEndian(footer[192..]) != (ulong)footerOffset)
        {
            throw Invalid("has a footer that does not know where it starts");
        }
        return new XetShardFooter(
            XetHash.FromBytes(footer.Slice(72, 32)),
            BinaryPrimitives.ReadUInt64LittleEndian(footer[104..]),
            BinaryPrimitives.ReadUInt64LittleEndian(footer[112..]));
    }

    private static ReadOnlySpan<byte> Entry(ReadOnlySpan<byte> body, int position, string section) =>
        position <= body.Length - EntrySize
            ? body.Slice(position, EntrySize)
            : throw Invalid($"ends inside its {section}, before the bookend");

    /// <summary>A bookend: 32 bytes of 0xFF then 16 zeros.</summary>
    private static bool IsBookend(ReadOnlySpan<byte> entry) =>
        !entry[..32].ContainsAnyExcept((byte)0xFF) && !entry[32..].ContainsAnyExcept((byte)0);

    private static XetFormatException Invalid(string problem) => new($"A shard {problem}.");
}

/// <summary>A file's reconstruction in a shard; <paramref name="Sha256"/> from the metadata extension when present.</summary>
internal sealed record XetShardFile(XetHash FileHash, IReadOnlyList<XetShardTerm> Terms, XetHash? Sha256);

/// <summary>A term: chunks <c>[ChunkStart, ChunkEnd)</c> of a xorb, with the range hash when the shard has verification entries.</summary>
internal sealed record XetShardTerm(XetHash Xorb, uint UnpackedLength, uint ChunkStart, uint ChunkEnd, XetHash? VerificationHash);

/// <summary>A xorb's chunk table: chunk hashes (HMAC'd with <see cref="XetShardFooter.ChunkHashKey"/> when it is not zero).</summary>
internal sealed record XetShardXorb(XetHash Hash, IReadOnlyList<XetShardChunk> Chunks, uint RawBytes, uint SerializedBytes);

/// <summary>A chunk of a xorb: its hash, where its raw bytes start in the xorb's raw bytes, and its raw length.</summary>
internal readonly record struct XetShardChunk(XetHash Hash, uint RawStart, uint RawLength);

/// <summary>The footer fields that matter: the HMAC key of the chunk hashes (zero: plain hashes), creation and expiry times.</summary>
internal sealed record XetShardFooter(XetHash ChunkHashKey, ulong CreatedAt, ulong KeyExpiry);
