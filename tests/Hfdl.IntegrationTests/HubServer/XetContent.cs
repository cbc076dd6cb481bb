using System.Text;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>File contents for Xet tests: mixes of random, float-like and text bytes, repetitions, and edited copies.</summary>
internal static class XetContent
{
    /// <summary>Random, float-like and text stretches in turn, so each compression scheme has data it suits.</summary>
    public static byte[] Mixed(int length, int seed)
    {
        var data = new byte[length];
        var random = new Random(seed);
        for (var offset = 0; offset < length; offset += 200_000)
        {
            var part = data.AsSpan(offset, Math.Min(200_000, length - offset));
            switch ((offset / 200_000) % 3)
            {
                case 0:
                    random.NextBytes(part);
                    break;
                case 1:
                    for (var i = 0; i + 4 <= part.Length; i += 4)
                    {
                        BitConverter.TryWriteBytes(part[i..], (float)Math.Sin((offset + i + seed) / 3000.0));
                    }
                    break;
                default:
                    var text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, (part.Length / 8) + 1).Select(i => $"tok{(i * 7919 + seed) % 5000:D4} ")));
                    text.AsSpan(0, part.Length).CopyTo(part);
                    break;
            }
        }
        return data;
    }

    /// <summary>Weights and a later version of them with a stretch in the middle rewritten.</summary>
    public static (byte[] Old, byte[] New) WeightsAndEdit(int length, int seed)
    {
        var old = Mixed(length, seed);
        var edited = old.ToArray();
        new Random(seed + 1000).NextBytes(edited.AsSpan(length / 2, 50_000));
        return (old, edited);
    }

    /// <summary><paramref name="line"/> repeated up to <paramref name="length"/> bytes: its chunks deduplicate.</summary>
    public static byte[] Repeated(string line, int length)
    {
        var bytes = Encoding.ASCII.GetBytes(line);
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            data[i] = bytes[i % bytes.Length];
        }
        return data;
    }
}
