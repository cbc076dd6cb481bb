using System.Text;

namespace Hfdl.Core.Tests.Xet;

/// <summary>Inputs the xet-core tests use, rebuilt byte for byte, and small helpers.</summary>
internal static class XetTestData
{
    /// <summary>
    /// xet-core's <c>create_random_data</c> (deduplication/src/chunking.rs tests): SplitMix64 words, little-endian,
    /// cut to <paramref name="length"/>.
    /// </summary>
    public static byte[] SplitMix(int length, ulong seed)
    {
        var data = new byte[length];
        var state = seed;
        for (var i = 0; i < length; i += 8)
        {
            state += 0x9E3779B97F4A7C15;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            z ^= z >> 31;
            var word = BitConverter.GetBytes(z);
            if (!BitConverter.IsLittleEndian)
            {
                Array.Reverse(word);
            }
            word.AsSpan(0, Math.Min(8, length - i)).CopyTo(data.AsSpan(i));
        }
        return data;
    }

    /// <summary>
    /// xet-core's <c>get_triggering_base_data(n, padding)</c>: a 128-byte pattern known to hit a chunk boundary, padded
    /// with zeros, then doubled until <paramref name="length"/> bytes.
    /// </summary>
    public static byte[] Triggering(int length, int padding)
    {
        byte[] pattern =
        [
            154, 52, 42, 34, 159, 75, 126, 224, 70, 236, 12, 196, 79, 236, 178, 124, 127, 50, 99, 178, 44, 176, 174,
            126, 250, 235, 205, 174, 252, 122, 35, 10, 20, 101, 214, 69, 193, 8, 115, 105, 158, 228, 120, 111, 136,
            162, 198, 251, 211, 183, 253, 252, 164, 147, 63, 16, 186, 162, 117, 23, 170, 36, 205, 187, 174, 76, 210,
            174, 211, 175, 12, 173, 145, 59, 2, 70, 222, 181, 159, 227, 182, 156, 189, 51, 226, 106, 24, 50, 183, 157,
            140, 10, 8, 23, 212, 70, 10, 234, 23, 33, 219, 254, 39, 236, 70, 49, 191, 116, 9, 115, 15, 101, 26, 159,
            165, 220, 15, 170, 56, 125, 92, 163, 94, 235, 38, 40, 49, 81,
        ];
        var data = new List<byte>(length);
        data.AddRange(pattern);
        data.AddRange(new byte[padding]);
        while (data.Count < length)
        {
            var take = Math.Min(length - data.Count, data.Count);
            data.AddRange(data.GetRange(0, take));
        }
        return [.. data];
    }

    /// <summary>Cumulative ends of chunks, as xet-core's tests list boundaries.</summary>
    public static List<long> Boundaries(IEnumerable<int> lengths)
    {
        long end = 0;
        return [.. lengths.Select(l => end += l)];
    }

    /// <summary>
    /// <c>celinah/xet-experiments/large_text.txt</c> on huggingface.co: "this is a text file." 3,145,729 times
    /// (fixture xet-values.json).
    /// </summary>
    public static byte[] LargeText()
    {
        var line = Encoding.ASCII.GetBytes("this is a text file.");
        var data = new byte[line.Length * 3_145_729];
        for (var i = 0; i < data.Length; i += line.Length)
        {
            line.CopyTo(data, i);
        }
        return data;
    }

    /// <summary>Little-endian float32 values of a smooth curve: bytes whose positions modulo 4 look alike (BG4's case).</summary>
    public static byte[] Floats(int length, int seed)
    {
        var data = new byte[length];
        for (var i = 0; i + 4 <= length; i += 4)
        {
            BitConverter.TryWriteBytes(data.AsSpan(i), (float)Math.Sin((i + seed) / 4000.0));
        }
        return data;
    }
}
