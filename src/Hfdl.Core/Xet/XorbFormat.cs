using System.Buffers.Binary;

namespace Hfdl.Core.Xet;

/// <summary>
/// The 8-byte header before each chunk in a xorb (spec xorb.md): version (0), stored length (u24 LE), compression
/// scheme, uncompressed length (u24 LE).
/// </summary>
internal readonly record struct XorbChunkHeader(int StoredLength, XetCompression Scheme, int UncompressedLength)
{
    public const int Size = 8;

    /// <summary>The largest raw chunk the protocol makes (the chunker's maximum).</summary>
    public const int MaxUncompressedLength = XetChunker.MaxChunkSize;

    public void Write(Span<byte> destination)
    {
        if (StoredLength is < 0 or > 0xFF_FFFF || UncompressedLength is < 0 or > 0xFF_FFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(destination), "A chunk length does not fit in 24 bits.");
        }
        destination[0] = 0;
        WriteU24(destination[1..], StoredLength);
        destination[4] = (byte)Scheme;
        WriteU24(destination[5..], UncompressedLength);
    }

    /// <summary>
    /// Reads and checks a header: version 0, a known scheme, an uncompressed length of at most 128 KiB, a stored length
    /// that equals it when uncompressed. A <see cref="XetFormatException"/> says which rule was broken.
    /// </summary>
    public static XorbChunkHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new XetFormatException("A xorb range ends in the middle of a chunk header.");
        }
        if (source[0] != 0)
        {
            throw new XetFormatException($"A xorb chunk has header version {source[0]}; only version 0 exists.");
        }
        var scheme = source[4];
        if (scheme > (byte)XetCompression.ByteGrouping4Lz4)
        {
            throw new XetFormatException($"A xorb chunk uses compression scheme {scheme}, which the protocol does not define.");
        }
        var header = new XorbChunkHeader(ReadU24(source[1..]), (XetCompression)scheme, ReadU24(source[5..]));
        if (header.UncompressedLength > MaxUncompressedLength)
        {
            throw new XetFormatException($"A xorb chunk claims {header.UncompressedLength} bytes; chunks are at most {MaxUncompressedLength}.");
        }
        if (header.Scheme == XetCompression.None && header.StoredLength != header.UncompressedLength)
        {
            throw new XetFormatException($"An uncompressed xorb chunk stores {header.StoredLength} bytes but claims {header.UncompressedLength}.");
        }
        return header;
    }

    private static int ReadU24(ReadOnlySpan<byte> source) => source[0] | (source[1] << 8) | (source[2] << 16);

    private static void WriteU24(Span<byte> destination, int value)
    {
        destination[0] = (byte)value;
        destination[1] = (byte)(value >> 8);
        destination[2] = (byte)(value >> 16);
    }
}

/// <summary>One chunk of a xorb as its footer describes it.</summary>
/// <param name="Hash">The chunk hash.</param>
/// <param name="Offset">Where its header starts in the serialized xorb.</param>
/// <param name="SerializedLength">Header plus stored bytes.</param>
/// <param name="UncompressedLength">Its raw length.</param>
internal readonly record struct XorbChunkInfo(XetHash Hash, int Offset, int SerializedLength, int UncompressedLength)
{
    public int End => Offset + SerializedLength;
}

/// <summary>
/// Builds a serialized xorb: chunks (header and stored bytes) one after another, then the metadata footer
/// (<c>XorbObjectInfo</c> V1 of xet-core: "XETBLOB", hashes section "XBLBHSH", boundaries section "XBLBBND", the fixed
/// tail) and its length as the last 4 bytes.
/// </summary>
internal sealed class XorbBuilder
{
    /// <summary>The CAS refuses serialized xorbs above this (spec xorb.md).</summary>
    public const int MaxSerializedBytes = 64 * 1024 * 1024;

    /// <summary>The reference client cuts a xorb at this many chunks (MAX_XORB_CHUNKS).</summary>
    public const int MaxChunks = 8192;

    private readonly MemoryStream _data = new();
    private readonly List<XorbChunkInfo> _chunks = [];

    public int ChunkCount => _chunks.Count;

    public IReadOnlyList<XorbChunkInfo> Chunks => _chunks;

    /// <summary>The serialized size so far, footer included.</summary>
    public long SerializedLength => _data.Length + FooterLength(_chunks.Count);

    /// <summary>The size of the footer (info block and its trailing length) of a xorb of <paramref name="chunks"/> chunks.</summary>
    public static int FooterLength(int chunks) => 92 + (40 * chunks) + 4;

    /// <summary>Whether one more chunk of <paramref name="storedLength"/> stored bytes stays within the limits.</summary>
    public bool Fits(int storedLength, int maxSerializedBytes = MaxSerializedBytes, int maxChunks = MaxChunks) =>
        _chunks.Count < maxChunks
        && _data.Length + XorbChunkHeader.Size + storedLength + FooterLength(_chunks.Count + 1) <= maxSerializedBytes;

    /// <summary>Appends a chunk whose bytes are already stored (compressed) under <paramref name="scheme"/>.</summary>
    public XorbChunkInfo AddStored(XetHash hash, XetCompression scheme, ReadOnlySpan<byte> stored, int uncompressedLength)
    {
        Span<byte> header = stackalloc byte[XorbChunkHeader.Size];
        new XorbChunkHeader(stored.Length, scheme, uncompressedLength).Write(header);
        var offset = checked((int)_data.Length);
        _data.Write(header);
        _data.Write(stored);
        var info = new XorbChunkInfo(hash, offset, XorbChunkHeader.Size + stored.Length, uncompressedLength);
        _chunks.Add(info);
        return info;
    }

    /// <summary>Appends raw chunk data, compressed with <paramref name="scheme"/>.</summary>
    public XorbChunkInfo Add(ReadOnlySpan<byte> data, XetCompression scheme) =>
        AddStored(XetHashing.ChunkHash(data), scheme, XetChunkCodec.Compress(scheme, data), data.Length);

    /// <summary>The xorb hash: the aggregated hash of the chunk hashes and raw lengths.</summary>
    public XetHash Hash() => XetHashing.XorbHash([.. _chunks.Select(c => new XetChunkRef(c.Hash, (ulong)c.UncompressedLength))]);

    /// <summary>The whole serialized xorb.</summary>
    public byte[] ToArray()
    {
        var chunkCount = _chunks.Count;
        var output = new byte[_data.Length + FooterLength(chunkCount)];
        _data.GetBuffer().AsSpan(0, (int)_data.Length).CopyTo(output);
        var w = new FooterWriter(output.AsSpan((int)_data.Length));
        Span<byte> hashBytes = stackalloc byte[XetHash.Size];
        w.Bytes("XETBLOB"u8);
        w.Bytes([1]);
        Hash().CopyTo(hashBytes);
        w.Bytes(hashBytes);
        var hashesStart = w.Position;
        w.Bytes("XBLBHSH"u8);
        w.Bytes([0]);
        w.U32(chunkCount);
        foreach (var chunk in _chunks)
        {
            chunk.Hash.CopyTo(hashBytes);
            w.Bytes(hashBytes);
        }
        var boundariesStart = w.Position;
        w.Bytes("XBLBBND"u8);
        w.Bytes([1]);
        w.U32(chunkCount);
        foreach (var chunk in _chunks)
        {
            w.U32(chunk.End);
        }
        long unpacked = 0;
        foreach (var chunk in _chunks)
        {
            unpacked += chunk.UncompressedLength;
            w.U32(unpacked);
        }
        w.U32(chunkCount);
        // The offsets count from each section's start to the end of the info block (after the 16 reserved bytes).
        var end = w.Position + 4 + 4 + 16;
        w.U32(end - hashesStart);
        w.U32(end - boundariesStart);
        w.Bytes(new byte[16]);
        w.U32(end);
        return output;
    }
}

/// <summary>A whole serialized xorb, read back: its hash and chunk table from the footer, and each chunk's raw bytes.</summary>
internal sealed class XorbObject
{
    private readonly byte[] _bytes;

    private XorbObject(byte[] bytes, XetHash hash, IReadOnlyList<XorbChunkInfo> chunks)
    {
        _bytes = bytes;
        Hash = hash;
        Chunks = chunks;
    }

    public XetHash Hash { get; }

    public IReadOnlyList<XorbChunkInfo> Chunks { get; }

    /// <summary>
    /// Parses a serialized xorb (footer V1) and checks it against itself: section tags and versions, chunk counts,
    /// boundaries inside the data and in order, the section offsets; a <see cref="XetFormatException"/> otherwise.
    /// Chunk data is checked by <see cref="ReadChunk"/>.
    /// </summary>
    public static XorbObject Parse(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 4)
        {
            throw Invalid("is shorter than its length field");
        }
        var infoLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4));
        if (infoLength > bytes.Length - 4 || infoLength < FooterFixed)
        {
            throw Invalid("declares a footer that does not fit");
        }
        var dataLength = bytes.Length - 4 - (int)infoLength;
        var info = new ReadOnlySpan<byte>(bytes, dataLength, (int)infoLength);
        var r = new FooterReader(info);
        if (!r.Take(7).SequenceEqual("XETBLOB"u8) || r.Take(1)[0] != 1)
        {
            throw Invalid("does not have a version 1 footer");
        }
        var hash = XetHash.FromBytes(r.Take(XetHash.Size));
        var hashesStart = r.Position;
        if (!r.Take(7).SequenceEqual("XBLBHSH"u8) || r.Take(1)[0] != 0)
        {
            throw Invalid("has no hashes section");
        }
        var count = r.U32();
        // Each chunk takes 40 footer bytes: that bounds the count before anything is allocated.
        if (count > (uint)(info.Length / 40))
        {
            throw Invalid("claims more chunks than its footer can hold");
        }
        var hashes = new XetHash[count];
        for (var i = 0; i < hashes.Length; i++)
        {
            hashes[i] = XetHash.FromBytes(r.Take(XetHash.Size));
        }
        var boundariesStart = r.Position;
        if (!r.Take(7).SequenceEqual("XBLBBND"u8) || r.Take(1)[0] != 1 || r.U32() != count)
        {
            throw Invalid("has no matching boundaries section");
        }
        var ends = new uint[count];
        for (var i = 0; i < ends.Length; i++)
        {
            ends[i] = r.U32();
        }
        var unpackedEnds = new uint[count];
        for (var i = 0; i < unpackedEnds.Length; i++)
        {
            unpackedEnds[i] = r.U32();
        }
        if (r.U32() != count)
        {
            throw Invalid("disagrees with itself about its chunk count");
        }
        var hashesFromEnd = r.U32();
        var boundariesFromEnd = r.U32();
        r.Take(16);
        if (r.Position != info.Length || hashesFromEnd != r.Position - hashesStart || boundariesFromEnd != r.Position - boundariesStart)
        {
            throw Invalid("has section offsets that do not match its layout");
        }
        var chunks = new XorbChunkInfo[count];
        uint start = 0;
        uint unpackedStart = 0;
        for (var i = 0; i < chunks.Length; i++)
        {
            if (ends[i] <= start || ends[i] > dataLength || unpackedEnds[i] < unpackedStart
                || ends[i] - start < XorbChunkHeader.Size)
            {
                throw Invalid("has chunk boundaries out of order or outside its data");
            }
            chunks[i] = new XorbChunkInfo(hashes[i], (int)start, (int)(ends[i] - start), (int)(unpackedEnds[i] - unpackedStart));
            start = ends[i];
            unpackedStart = unpackedEnds[i];
        }
        if (start != dataLength)
        {
            throw Invalid("has bytes between its last chunk and its footer");
        }
        return new XorbObject(bytes, hash, chunks);
    }

    /// <summary>Decodes chunk <paramref name="index"/> and checks its header against the footer and its hash.</summary>
    public byte[] ReadChunk(int index)
    {
        var chunk = Chunks[index];
        var span = _bytes.AsSpan(chunk.Offset, chunk.SerializedLength);
        var header = XorbChunkHeader.Read(span);
        if (header.StoredLength != chunk.SerializedLength - XorbChunkHeader.Size || header.UncompressedLength != chunk.UncompressedLength)
        {
            throw Invalid($"has chunk {index} whose header disagrees with the footer");
        }
        var data = new byte[header.UncompressedLength];
        XetChunkCodec.Decompress(header.Scheme, span[XorbChunkHeader.Size..], data);
        if (XetHashing.ChunkHash(data) != chunk.Hash)
        {
            throw Invalid($"has chunk {index} whose data does not match its hash");
        }
        return data;
    }

    private const int FooterFixed = 92;

    private static XetFormatException Invalid(string problem) => new($"A serialized xorb {problem}.");
}

/// <summary>Writes the fields of a xorb footer in order.</summary>
internal ref struct FooterWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;

    public int Position { get; private set; }

    public void Bytes(scoped ReadOnlySpan<byte> value)
    {
        value.CopyTo(_destination[Position..]);
        Position += value.Length;
    }

    public void U32(long value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_destination[Position..], checked((uint)value));
        Position += 4;
    }
}

/// <summary>Reads the fields of a xorb footer in order; running past its end is a <see cref="XetFormatException"/>.</summary>
internal ref struct FooterReader(ReadOnlySpan<byte> source)
{
    private readonly ReadOnlySpan<byte> _source = source;

    public int Position { get; private set; }

    public ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _source.Length - Position)
        {
            throw new XetFormatException("A serialized xorb has a footer that ends too early.");
        }
        var slice = _source.Slice(Position, count);
        Position += count;
        return slice;
    }

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
}
