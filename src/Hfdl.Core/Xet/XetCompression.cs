using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
        var (quads, g1, g2, g3) = Groups(data.Length);
        var s0 = grouped[..g1];
        var s1 = grouped[g1..g2];
        var s2 = grouped[g2..g3];
        var s3 = grouped[g3..];
        // Four bytes at a time: one word read, one byte to each group.
        for (var i = 0; i < quads; i++)
        {
            var word = BinaryPrimitives.ReadUInt32LittleEndian(data[(4 * i)..]);
            s0[i] = (byte)word;
            s1[i] = (byte)(word >> 8);
            s2[i] = (byte)(word >> 16);
            s3[i] = (byte)(word >> 24);
        }
        var tail = data[(4 * quads)..];
        for (var g = 0; g < tail.Length; g++)
        {
            grouped[(g switch { 0 => 0, 1 => g1, _ => g2 }) + quads] = tail[g];
        }
    }

    /// <summary>The inverse of <see cref="SplitBytes"/>.</summary>
    public static void RegroupBytes(ReadOnlySpan<byte> grouped, Span<byte> data)
    {
        var (quads, g1, g2, g3) = Groups(data.Length);
        var s0 = grouped[..g1];
        var s1 = grouped[g1..g2];
        var s2 = grouped[g2..g3];
        var s3 = grouped[g3..];
        var i = 0;
        if (Sse2.IsSupported)
        {
            // Sixteen quads at a time: interleave the four groups' bytes, then their byte pairs (a tenth of the
            // scalar loop's time; on a 2-core machine every decoded GiB counts).
            ref var r0 = ref MemoryMarshal.GetReference(s0);
            ref var r1 = ref MemoryMarshal.GetReference(s1);
            ref var r2 = ref MemoryMarshal.GetReference(s2);
            ref var r3 = ref MemoryMarshal.GetReference(s3);
            ref var output = ref MemoryMarshal.GetReference(data);
            for (; i + 16 <= quads; i += 16)
            {
                var a = Vector128.LoadUnsafe(ref r0, (nuint)i);
                var b = Vector128.LoadUnsafe(ref r1, (nuint)i);
                var c = Vector128.LoadUnsafe(ref r2, (nuint)i);
                var d = Vector128.LoadUnsafe(ref r3, (nuint)i);
                var abLow = Sse2.UnpackLow(a, b).AsUInt16();
                var abHigh = Sse2.UnpackHigh(a, b).AsUInt16();
                var cdLow = Sse2.UnpackLow(c, d).AsUInt16();
                var cdHigh = Sse2.UnpackHigh(c, d).AsUInt16();
                var at = (nuint)(4 * i);
                Sse2.UnpackLow(abLow, cdLow).AsByte().StoreUnsafe(ref output, at);
                Sse2.UnpackHigh(abLow, cdLow).AsByte().StoreUnsafe(ref output, at + 16);
                Sse2.UnpackLow(abHigh, cdHigh).AsByte().StoreUnsafe(ref output, at + 32);
                Sse2.UnpackHigh(abHigh, cdHigh).AsByte().StoreUnsafe(ref output, at + 48);
            }
        }
        for (; i < quads; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(
                data[(4 * i)..],
                s0[i] | ((uint)s1[i] << 8) | ((uint)s2[i] << 16) | ((uint)s3[i] << 24));
        }
        var tail = data[(4 * quads)..];
        for (var g = 0; g < tail.Length; g++)
        {
            tail[g] = grouped[(g switch { 0 => 0, 1 => g1, _ => g2 }) + quads];
        }
    }

    /// <summary>Whole groups of four, and where groups 1, 2 and 3 start.</summary>
    private static (int Quads, int G1, int G2, int G3) Groups(int length)
    {
        var quads = length / 4;
        var rest = length % 4;
        var g1 = quads + (rest >= 1 ? 1 : 0);
        var g2 = g1 + quads + (rest >= 2 ? 1 : 0);
        var g3 = g2 + quads + (rest == 3 ? 1 : 0);
        return (quads, g1, g2, g3);
    }
}
