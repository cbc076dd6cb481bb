namespace Hfdl.Core.Xet;

/// <summary>How a chunk's bytes are stored in a xorb (the scheme byte of its header; spec xorb.md).</summary>
internal enum XetCompression : byte
{
    /// <summary>Stored as they are.</summary>
    None = 0,

    /// <summary>One LZ4 frame.</summary>
    Lz4 = 1,

    /// <summary>Byte grouping by position modulo 4 (<see cref="XetChunkCodec.SplitBytes"/>), then one LZ4 frame.</summary>
    ByteGrouping4Lz4 = 2,
}

/// <summary>Compresses and decompresses chunk data with the three schemes of the spec.</summary>
internal static class XetChunkCodec
{
    /// <summary>The stored bytes of <paramref name="data"/> under <paramref name="scheme"/>.</summary>
    public static byte[] Compress(XetCompression scheme, ReadOnlySpan<byte> data)
    {
        switch (scheme)
        {
            case XetCompression.None:
                return data.ToArray();
            case XetCompression.Lz4:
                return Lz4Frame.Encode(data);
            case XetCompression.ByteGrouping4Lz4:
                var grouped = new byte[data.Length];
                SplitBytes(data, grouped);
                return Lz4Frame.Encode(grouped);
            default:
                throw new ArgumentOutOfRangeException(nameof(scheme), scheme, "Not a Xet compression scheme.");
        }
    }

    /// <summary>
    /// Decodes stored bytes into <paramref name="destination"/>, whose length is the chunk's uncompressed length; a
    /// <see cref="XetFormatException"/> when they do not decode to exactly that.
    /// </summary>
    public static void Decompress(XetCompression scheme, ReadOnlySpan<byte> stored, Span<byte> destination)
    {
        switch (scheme)
        {
            case XetCompression.None:
                if (stored.Length != destination.Length)
                {
                    throw new XetFormatException($"An uncompressed Xet chunk holds {stored.Length} bytes but its header says {destination.Length}.");
                }
                stored.CopyTo(destination);
                break;
            case XetCompression.Lz4:
                Lz4Frame.Decode(stored, destination);
                break;
            case XetCompression.ByteGrouping4Lz4:
                var grouped = System.Buffers.ArrayPool<byte>.Shared.Rent(destination.Length);
                try
                {
                    Lz4Frame.Decode(stored, grouped.AsSpan(0, destination.Length));
                    RegroupBytes(grouped.AsSpan(0, destination.Length), destination);
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(grouped);
                }
                break;
            default:
                throw new XetFormatException($"A Xet chunk uses compression scheme {(byte)scheme}, which the protocol does not define.");
        }
    }

    /// <summary>
    /// Byte grouping (BG4): byte <c>i</c> goes to group <c>i % 4</c>; the groups follow each other, the first
    /// <c>length % 4</c> of them one byte longer.
    /// </summary>
    public static void SplitBytes(ReadOnlySpan<byte> data, Span<byte> grouped)
    {
        var offset = 0;
        for (var group = 0; group < 4; group++)
        {
            for (var i = group; i < data.Length; i += 4)
            {
                grouped[offset++] = data[i];
            }
        }
    }

    /// <summary>The inverse of <see cref="SplitBytes"/>.</summary>
    public static void RegroupBytes(ReadOnlySpan<byte> grouped, Span<byte> data)
    {
        var offset = 0;
        for (var group = 0; group < 4; group++)
        {
            for (var i = group; i < data.Length; i += 4)
            {
                data[i] = grouped[offset++];
            }
        }
    }
}
