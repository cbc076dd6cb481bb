using System.Buffers;
using System.Globalization;

namespace Hfdl.Core.Xet;

/// <summary>
/// The hashes of the Xet protocol (spec hashing.md; xet-core <c>merklehash</c>): keyed BLAKE3 over chunk data, an
/// aggregated Merkle hash over (chunk hash, length) pairs for xorbs, and the same salted with a zero key for files.
/// </summary>
internal static class XetHashing
{
    /// <summary>The BLAKE3 key of chunk hashes (DATA_KEY).</summary>
    private static ReadOnlySpan<byte> DataKey =>
    [
        102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88,
        180, 208, 176, 75, 147, 173, 242, 41,
    ];

    /// <summary>The BLAKE3 key of internal Merkle nodes (INTERNAL_NODE_KEY).</summary>
    private static ReadOnlySpan<byte> InternalNodeKey =>
    [
        1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55, 199, 109, 210,
        248, 99, 82, 230, 74, 83, 113, 63,
    ];

    /// <summary>The mean branching factor of the aggregated hash tree (AGGREGATED_HASHES_MEAN_TREE_BRANCHING_FACTOR).</summary>
    private const int MeanBranching = 4;

    /// <summary>The hash of one chunk's raw (uncompressed) bytes.</summary>
    public static XetHash ChunkHash(ReadOnlySpan<byte> data) => Keyed(DataKey, data);

    /// <summary>
    /// The keyed BLAKE3 of a hash's 32 raw bytes under <paramref name="key"/>: xet-core's <c>hmac</c>, used to salt file
    /// hashes and to hide chunk hashes in global-dedup shards.
    /// </summary>
    public static XetHash Hmac(XetHash hash, XetHash key)
    {
        Span<byte> keyBytes = stackalloc byte[XetHash.Size];
        Span<byte> message = stackalloc byte[XetHash.Size];
        key.CopyTo(keyBytes);
        hash.CopyTo(message);
        return Keyed(keyBytes, message);
    }

    /// <summary>A xorb's hash: the aggregated hash of its chunks in order; zero for no chunks.</summary>
    public static XetHash XorbHash(IReadOnlyList<XetChunkRef> chunks) => chunks.Count == 0 ? XetHash.Zero : Aggregate(chunks);

    /// <summary>A file's hash (its Xet id): the aggregated hash of its chunks, salted with a zero key; zero for an empty file.</summary>
    public static XetHash FileHash(IReadOnlyList<XetChunkRef> chunks) => FileHash(chunks, XetHash.Zero);

    /// <summary>The file hash with another salt (xet-core's <c>file_node_hash_with_salt</c>).</summary>
    public static XetHash FileHash(IReadOnlyList<XetChunkRef> chunks, XetHash salt) =>
        chunks.Count == 0 ? XetHash.Zero : Hmac(Aggregate(chunks), salt);

    /// <summary>
    /// The aggregated Merkle hash: cut the list into runs ending after the first hash (from the third on) whose last word
    /// is a multiple of 4, or after 9 entries; replace each run by the hash of its lines <c>"{hash} : {length}\n"</c>
    /// and the sum of its lengths; repeat until one entry is left.
    /// </summary>
    private static XetHash Aggregate(IReadOnlyList<XetChunkRef> chunks)
    {
        var level = new XetChunkRef[chunks.Count];
        for (var i = 0; i < level.Length; i++)
        {
            level[i] = chunks[i];
        }
        var count = level.Length;
        // One line is 64 hex digits, " : ", up to 20 digits and "\n".
        var buffer = ArrayPool<byte>.Shared.Rent((2 * MeanBranching + 1) * 88);
        try
        {
            while (count > 1)
            {
                var write = 0;
                for (var read = 0; read < count;)
                {
                    var cut = read + NextCut(level.AsSpan(read, count - read));
                    level[write++] = HashOfRun(level.AsSpan(read, cut - read), buffer);
                    read = cut;
                }
                count = write;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return level[0].Hash;
    }

    private static int NextCut(ReadOnlySpan<XetChunkRef> entries)
    {
        if (entries.Length <= 2)
        {
            return entries.Length;
        }
        var end = Math.Min(2 * MeanBranching + 1, entries.Length);
        for (var i = 2; i < end; i++)
        {
            if (entries[i].Hash.LastWord % MeanBranching == 0)
            {
                return i + 1;
            }
        }
        return end;
    }

    private static XetChunkRef HashOfRun(ReadOnlySpan<XetChunkRef> run, byte[] buffer)
    {
        var length = 0;
        ulong total = 0;
        foreach (var entry in run)
        {
            entry.Hash.FormatUtf8(buffer.AsSpan(length));
            length += 64;
            " : "u8.CopyTo(buffer.AsSpan(length));
            length += 3;
            entry.Length.TryFormat(buffer.AsSpan(length), out var digits, default, CultureInfo.InvariantCulture);
            length += digits;
            buffer[length++] = (byte)'\n';
            total += entry.Length;
        }
        return new XetChunkRef(Keyed(InternalNodeKey, buffer.AsSpan(0, length)), total);
    }

    private static XetHash Keyed(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        using var hasher = Blake3.Hasher.NewKeyed(key);
        hasher.Update(data);
        Span<byte> output = stackalloc byte[XetHash.Size];
        hasher.Finalize(output);
        return XetHash.FromBytes(output);
    }
}

/// <summary>A chunk as the aggregated hashes see it: its hash and its raw length.</summary>
internal readonly record struct XetChunkRef(XetHash Hash, ulong Length);
