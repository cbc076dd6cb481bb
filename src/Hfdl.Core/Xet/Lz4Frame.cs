using System.Buffers.Binary;
using K4os.Compression.LZ4;

namespace Hfdl.Core.Xet;

/// <summary>
/// The LZ4 frame format (lz4 doc/lz4_Frame_format.md) around K4os's block codec, as Xet chunks use it (xet-core writes
/// frames with lz4_flex's defaults: 64 KiB independent blocks, no checksums). Writing uses those defaults and stores a
/// block raw when LZ4 does not shrink it. Reading accepts every valid frame (linked blocks, content size, dictionary id,
/// block and content checksums, which are verified) and decodes into a caller's buffer of the expected size, so a
/// hostile frame can neither allocate nor write past it.
/// </summary>
internal static class Lz4Frame
{
    private const uint Magic = 0x184D2204;
    private const int MaxBlockSize = 64 * 1024;
    private const uint UncompressedBlockFlag = 0x8000_0000;

    // FLG: version 01, independent blocks; BD: 64 KiB blocks.
    private const byte WriteFlags = 0b0110_0000;
    private const byte WriteBlockDescriptor = 4 << 4;

    /// <summary>The largest frame <see cref="Encode(ReadOnlySpan{byte})"/> can produce for <paramref name="length"/> input bytes.</summary>
    public static int MaxEncodedLength(int length)
    {
        var blocks = Math.Max(1, (length + MaxBlockSize - 1) / MaxBlockSize);
        return 7 + (blocks * (4 + MaxBlockSize)) + 4;
    }

    /// <summary>Encodes <paramref name="source"/> as one frame; returns its bytes.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> source)
    {
        var output = new byte[MaxEncodedLength(source.Length)];
        var length = Encode(source, output);
        return output.AsSpan(0, length).ToArray();
    }

    /// <summary>Encodes <paramref name="source"/> into <paramref name="destination"/> (at least <see cref="MaxEncodedLength"/>); returns the length.</summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        destination[4] = WriteFlags;
        destination[5] = WriteBlockDescriptor;
        destination[6] = HeaderChecksum(destination.Slice(4, 2));
        var written = 7;
        for (var offset = 0; offset < source.Length; offset += MaxBlockSize)
        {
            var block = source.Slice(offset, Math.Min(MaxBlockSize, source.Length - offset));
            var body = destination.Slice(written + 4, block.Length);
            // A block that LZ4 cannot fit in its own size is stored as it is, with the high bit of its size set.
            var compressed = LZ4Codec.Encode(block, body, LZ4Level.L00_FAST);
            if (compressed > 0 && compressed < block.Length)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(destination[written..], (uint)compressed);
                written += 4 + compressed;
            }
            else
            {
                block.CopyTo(body);
                BinaryPrimitives.WriteUInt32LittleEndian(destination[written..], (uint)block.Length | UncompressedBlockFlag);
                written += 4 + block.Length;
            }
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination[written..], 0);
        return written + 4;
    }

    /// <summary>
    /// Decodes one frame into <paramref name="destination"/>, which must be exactly the decoded size; throws a
    /// <see cref="XetFormatException"/> on anything malformed, on trailing bytes, or when the sizes disagree.
    /// </summary>
    public static void Decode(ReadOnlySpan<byte> frame, Span<byte> destination)
    {
        if (frame.Length < 7 || BinaryPrimitives.ReadUInt32LittleEndian(frame) != Magic)
        {
            throw Malformed("does not start with the LZ4 frame magic number");
        }
        var flags = frame[4];
        var descriptor = frame[5];
        if ((flags >> 6) != 1 || (flags & 0b10) != 0 || (descriptor & 0b1000_1111) != 0)
        {
            throw Malformed("has an unsupported frame descriptor");
        }
        var independent = (flags & 0b10_0000) != 0;
        var blockChecksums = (flags & 0b1_0000) != 0;
        var hasContentSize = (flags & 0b1000) != 0;
        var contentChecksum = (flags & 0b100) != 0;
        var hasDictionaryId = (flags & 0b1) != 0;
        var blockMaximum = ((descriptor >> 4) & 0b111) switch
        {
            4 => 64 * 1024,
            5 => 256 * 1024,
            6 => 1024 * 1024,
            7 => 4 * 1024 * 1024,
            _ => throw Malformed("declares an invalid block size"),
        };
        var position = 6;
        if (hasContentSize)
        {
            if (frame.Length < position + 8)
            {
                throw Malformed("is cut short in its header");
            }
            var declared = BinaryPrimitives.ReadUInt64LittleEndian(frame[position..]);
            if (declared != (ulong)destination.Length)
            {
                throw Malformed($"declares {declared} bytes of content where {destination.Length} are expected");
            }
            position += 8;
        }
        if (hasDictionaryId)
        {
            // A dictionary is something Xet never uses; its contents could not be known here.
            throw Malformed("needs an external dictionary");
        }
        if (frame.Length <= position || frame[position] != HeaderChecksum(frame[4..position]))
        {
            throw Malformed("has a bad header checksum");
        }
        position++;
        var written = 0;
        while (true)
        {
            if (frame.Length < position + 4)
            {
                throw Malformed("is cut short before its end mark");
            }
            var word = BinaryPrimitives.ReadUInt32LittleEndian(frame[position..]);
            position += 4;
            if (word == 0)
            {
                break;
            }
            var stored = (word & UncompressedBlockFlag) != 0;
            var size = (int)(word & ~UncompressedBlockFlag);
            if (size > blockMaximum || size > frame.Length - position - (blockChecksums ? 4 : 0))
            {
                throw Malformed("has a block larger than the frame or its block size");
            }
            var block = frame.Slice(position, size);
            position += size;
            if (blockChecksums)
            {
                if (BinaryPrimitives.ReadUInt32LittleEndian(frame[position..]) != XxHash32.Hash(block))
                {
                    throw Malformed("has a block whose checksum does not match");
                }
                position += 4;
            }
            var target = destination[written..];
            int produced;
            if (stored)
            {
                if (size > target.Length)
                {
                    throw Malformed($"holds more than the {destination.Length} bytes expected");
                }
                block.CopyTo(target);
                produced = size;
            }
            else
            {
                target = target[..Math.Min(target.Length, blockMaximum)];
                produced = independent || written == 0
                    ? LZ4Codec.Decode(block, target)
                    : LZ4Codec.Decode(block, target, destination[Math.Max(0, written - (64 * 1024))..written]);
                if (produced < 0)
                {
                    throw Malformed($"has a block that is not valid LZ4 or holds more than the {destination.Length} bytes expected");
                }
            }
            written += produced;
        }
        if (contentChecksum)
        {
            if (frame.Length < position + 4 || BinaryPrimitives.ReadUInt32LittleEndian(frame[position..]) != XxHash32.Hash(destination[..written]))
            {
                throw Malformed("has a content checksum that does not match");
            }
            position += 4;
        }
        if (written != destination.Length)
        {
            throw Malformed($"holds {written} bytes where {destination.Length} are expected");
        }
        if (position != frame.Length)
        {
            throw Malformed("is followed by stray bytes");
        }
    }

    private static byte HeaderChecksum(ReadOnlySpan<byte> descriptor) => (byte)(XxHash32.Hash(descriptor) >> 8);

    private static XetFormatException Malformed(string problem) => new($"An LZ4-compressed Xet chunk {problem}.");
}

/// <summary>xxHash32 with seed 0 (the checksum of LZ4 frames), after the reference implementation.</summary>
internal static class XxHash32
{
    private const uint Prime1 = 2654435761U;
    private const uint Prime2 = 2246822519U;
    private const uint Prime3 = 3266489917U;
    private const uint Prime4 = 668265263U;
    private const uint Prime5 = 374761393U;

    public static uint Hash(ReadOnlySpan<byte> data)
    {
        var length = data.Length;
        uint hash;
        var i = 0;
        if (length >= 16)
        {
            uint v1 = unchecked(Prime1 + Prime2);
            uint v2 = Prime2;
            uint v3 = 0;
            uint v4 = unchecked(0 - Prime1);
            for (; i <= length - 16; i += 16)
            {
                v1 = Round(v1, BinaryPrimitives.ReadUInt32LittleEndian(data[i..]));
                v2 = Round(v2, BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]));
                v3 = Round(v3, BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 8)..]));
                v4 = Round(v4, BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 12)..]));
            }
            hash = uint.RotateLeft(v1, 1) + uint.RotateLeft(v2, 7) + uint.RotateLeft(v3, 12) + uint.RotateLeft(v4, 18);
        }
        else
        {
            hash = Prime5;
        }
        hash += (uint)length;
        for (; i <= length - 4; i += 4)
        {
            hash = uint.RotateLeft(hash + (BinaryPrimitives.ReadUInt32LittleEndian(data[i..]) * Prime3), 17) * Prime4;
        }
        for (; i < length; i++)
        {
            hash = uint.RotateLeft(hash + (data[i] * Prime5), 11) * Prime1;
        }
        hash ^= hash >> 15;
        hash *= Prime2;
        hash ^= hash >> 13;
        hash *= Prime3;
        hash ^= hash >> 16;
        return hash;
    }

    private static uint Round(uint accumulator, uint lane) => uint.RotateLeft(accumulator + (lane * Prime2), 13) * Prime1;
}
