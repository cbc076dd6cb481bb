using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Hfdl.Hub.Server;

/// <summary>
/// Deterministic pseudo-random bytes generated on the fly: never held in memory, readable at any offset in O(1).
/// Each 8-byte little-endian word at index <c>w</c> is SplitMix64's output for <c>seed + (w + 1) * golden</c>, so the
/// stream has no short period: bytes served at a wrong offset never happen to match, whatever the chunk size.
/// </summary>
public sealed class SyntheticContent : FileContent
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private readonly long _size;
    private readonly ulong _seed;

    private SyntheticContent(long size, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        _size = size;
        _seed = seed;
    }

    /// <summary>Creates <paramref name="size"/> bytes determined by <paramref name="seed"/>.</summary>
    public static SyntheticContent Create(long size, ulong seed = 0) => new(size, seed);

    public override long Length => _size;

    public ulong Seed => _seed;

    /// <summary>The byte at <paramref name="offset"/>.</summary>
    public byte ByteAt(long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(offset, _size);
        return (byte)(Word(_seed, (ulong)offset >> 3) >> (int)((offset & 7) * 8));
    }

    public override int ReadAt(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= _size)
        {
            return 0;
        }
        var count = (int)Math.Min(destination.Length, _size - offset);
        Fill(_seed, offset, destination[..count]);
        return count;
    }

    private static void Fill(ulong seed, long offset, Span<byte> destination)
    {
        var word = (ulong)offset >> 3;
        var skip = (int)(offset & 7);
        Span<byte> scratch = stackalloc byte[8];
        if (skip != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, Word(seed, word++));
            var head = Math.Min(8 - skip, destination.Length);
            scratch.Slice(skip, head).CopyTo(destination);
            destination = destination[head..];
        }
        var whole = destination.Length >> 3;
        var words = MemoryMarshal.Cast<byte, ulong>(destination[..(whole << 3)]);
        var state = seed + ((word + 1) * Golden);
        for (var i = 0; i < words.Length; i++)
        {
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            words[i] = BitConverter.IsLittleEndian ? z ^ (z >> 31) : BinaryPrimitives.ReverseEndianness(z ^ (z >> 31));
            state += Golden;
        }
        word += (ulong)whole;
        var tail = destination[(whole << 3)..];
        if (!tail.IsEmpty)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, Word(seed, word));
            scratch[..tail.Length].CopyTo(tail);
        }
    }

    private static ulong Word(ulong seed, ulong index)
    {
        var z = seed + ((index + 1) * Golden);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
