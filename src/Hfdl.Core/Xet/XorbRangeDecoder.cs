namespace Hfdl.Core.Xet;

/// <summary>The raw bytes of the chunks of one fetched xorb range, one after another.</summary>
internal sealed class XorbRangeChunks
{
    private readonly byte[] _data;
    private readonly int[] _starts;

    internal XorbRangeChunks(byte[] data, int[] starts)
    {
        _data = data;
        _starts = starts;
    }

    public int Count => _starts.Length - 1;

    /// <summary>All raw bytes.</summary>
    public ReadOnlySpan<byte> Data => _data;

    /// <summary>Chunk <paramref name="index"/> (from the range's first chunk).</summary>
    public ReadOnlySpan<byte> Chunk(int index) => _data.AsSpan(_starts[index], _starts[index + 1] - _starts[index]);

    /// <summary><paramref name="count"/> chunks from <paramref name="first"/> on, contiguous.</summary>
    public ReadOnlySpan<byte> Chunks(int first, int count) => _data.AsSpan(_starts[first], _starts[first + count] - _starts[first]);
}

/// <summary>
/// Decodes the bytes of a fetched xorb range (chunk header, stored bytes, …) into raw chunk bytes, the whole range at
/// once. To decode while bytes arrive instead, read each chunk with <see cref="XorbChunkHeader.Read"/> (8 bytes), then
/// its <see cref="XorbChunkHeader.StoredLength"/> bytes with <see cref="XetChunkCodec.Decompress"/>.
/// </summary>
internal static class XorbRangeDecoder
{
    /// <summary>
    /// Decodes exactly <paramref name="expectedChunks"/> chunks that fill <paramref name="bytes"/> to its end. The headers
    /// are all checked first, and their raw lengths added up against <paramref name="maxDecodedBytes"/>, before anything
    /// is allocated; a range that is cut short, too long, claims too much or does not decompress is refused with a
    /// <see cref="XetFormatException"/>.
    /// </summary>
    public static XorbRangeChunks Decode(ReadOnlySpan<byte> bytes, int expectedChunks, long maxDecodedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(expectedChunks);
        long total = 0;
        var position = 0;
        var count = 0;
        while (position < bytes.Length)
        {
            if (count == expectedChunks)
            {
                throw new XetFormatException($"A xorb range holds more than the {expectedChunks} chunks it should.");
            }
            var header = XorbChunkHeader.Read(bytes[position..]);
            if (header.StoredLength > bytes.Length - position - XorbChunkHeader.Size)
            {
                throw new XetFormatException("A xorb range ends in the middle of a chunk.");
            }
            position += XorbChunkHeader.Size + header.StoredLength;
            total += header.UncompressedLength;
            count++;
        }
        if (count != expectedChunks)
        {
            throw new XetFormatException($"A xorb range holds {count} chunks where {expectedChunks} were expected.");
        }
        if (total > maxDecodedBytes || total > Array.MaxLength)
        {
            throw new XetFormatException($"A xorb range claims {total} raw bytes, more than the {maxDecodedBytes} its terms allow.");
        }
        var data = new byte[total];
        var starts = new int[count + 1];
        position = 0;
        var written = 0;
        for (var i = 0; i < count; i++)
        {
            var header = XorbChunkHeader.Read(bytes[position..]);
            var stored = bytes.Slice(position + XorbChunkHeader.Size, header.StoredLength);
            XetChunkCodec.Decompress(header.Scheme, stored, data.AsSpan(written, header.UncompressedLength));
            starts[i] = written;
            written += header.UncompressedLength;
            position += XorbChunkHeader.Size + header.StoredLength;
        }
        starts[count] = written;
        return new XorbRangeChunks(data, starts);
    }
}
