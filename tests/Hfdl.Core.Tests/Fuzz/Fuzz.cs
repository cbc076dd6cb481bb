using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Hfdl.Core.Tests.Fuzz;

/// <summary>
/// Generators of hostile input for the property-based tests: strings made of the pieces that break parsers (separators,
/// traversal, encodings, control and bidi characters, huge numbers) mixed with random characters, random bytes, and
/// mutations of valid documents. Every property runs a bounded number of cases (<see cref="Cases"/>), so the suite
/// stays fast in CI; set <c>HFDL_FUZZ_CASES</c> to run more locally.
/// </summary>
internal static class Fuzz
{
    public static int Cases { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("HFDL_FUZZ_CASES"), out var n) && n > 0 ? n : 400;

    public static Config Config => Config.QuickThrowOnFailure.WithMaxTest(Cases).WithQuietOnSuccess(true);

    /// <summary>Runs <paramref name="property"/> on <see cref="Cases"/> values of <paramref name="gen"/>; fails with the smallest counterexample.</summary>
    public static void Check<T>(Gen<T> gen, Action<T> property) =>
        FsCheck.Check.One(Config, Prop.ForAll(Arb.From(gen), property));

    private static readonly string[] Pieces =
    [
        "/", "//", "\\", ".", "..", "../", "./", "~", ":", "C:", "c:\\", "\\\\server\\share", "%2F", "%2e%2e", "%00", "%",
        "@", "#", "?", "&", "=", ";", ",", "\"", "'", "<", ">", " ", "\t", "\r\n", "\n", "\0", "\u0001", "\u001f", "\u007f",
        "\u0085", "\u200b", "\u202e", "\uFEFF", "\uD800", "\uDC00", "é", "e\u0301", "İ", "ß", "K", "\u212A", "日本",
        "hf://", "http://", "https://", "https://huggingface.co/", "datasets/", "spaces/", "models/", "tree/", "blob/",
        "resolve/", "main", "refs/pr/1", "org", "name", "gpt2", "a", "Z", "-", "--", "_", ".git", "CON", "nul", "aux.txt",
        "rel=next", "rel=\"next\"", "rel=\"prev next\"", "<http://h/x>", "<https://h/a,b>", "; ", "r=", "t=", "\"api\"",
        "0", "-1", "1", "9", "86400", "86401", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "1e3", "0x10", "bytes", "bytes ", "*", "-", "/*", ".download_state", ".hfdl-part", "a/b/c", "x".PadRight(97, 'x'),
    ];

    /// <summary>A character of any kind, biased toward ASCII.</summary>
    public static Gen<char> AnyChar { get; } = Gen.Frequency(
        (6, Gen.Choose(32, 126).Select(i => (char)i)),
        (2, Gen.Choose(0, 31).Select(i => (char)i)),
        (2, Gen.Choose(127, 0x2FFF).Select(i => (char)i)),
        (1, Gen.Choose(0xD800, 0xDFFF).Select(i => (char)i)),
        (1, Gen.Choose(0xE000, 0xFFFF).Select(i => (char)i)));

    /// <summary>A short string of hostile pieces and random characters.</summary>
    public static Gen<string> HostileString { get; } = Gen.Sized(size =>
        Gen.Frequency(
                (3, Gen.Elements(Pieces)),
                (2, AnyChar.Select(c => c.ToString())),
                (1, Gen.Choose(0, 9).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))))
            .ListOf(Math.Min(size, 40))
            .Select(parts => string.Concat(parts)));

    /// <summary>Arbitrary bytes, up to a few KiB.</summary>
    public static Gen<byte[]> Bytes { get; } = Gen.Sized(size =>
        Gen.Choose(0, 255).Select(i => (byte)i).ArrayOf(Math.Min(size * 20, 4096)));

    /// <summary>
    /// A valid document mutated a few times: bytes flipped, inserted, deleted or a slice duplicated, so the result is
    /// usually almost valid, which is where parsers break.
    /// </summary>
    public static Gen<byte[]> Mutated(params string[] seeds) =>
        from seed in Gen.Elements(seeds)
        from edits in Gen.Choose(0, 6)
        from ops in Gen.Zip(Gen.Choose(0, 3), Gen.Zip(Gen.Choose(0, 1 << 20), Gen.Choose(0, 255))).ArrayOf(edits)
        select Mutate(Encoding.UTF8.GetBytes(seed), ops);

    /// <summary>Like <see cref="Mutated(string[])"/>, for binary documents.</summary>
    public static Gen<byte[]> MutatedBytes(params byte[][] seeds) =>
        from seed in Gen.Elements(seeds)
        from edits in Gen.Choose(0, 6)
        from ops in Gen.Zip(Gen.Choose(0, 3), Gen.Zip(Gen.Choose(0, 1 << 20), Gen.Choose(0, 255))).ArrayOf(edits)
        select Mutate(seed, ops);

    private static byte[] Mutate(byte[] data, (int Op, (int Pos, int Value) Arg)[] ops)
    {
        var bytes = new List<byte>(data);
        foreach (var (op, (pos, value)) in ops)
        {
            if (bytes.Count == 0)
            {
                bytes.Add((byte)value);
                continue;
            }
            var at = pos % bytes.Count;
            switch (op)
            {
                case 0:
                    bytes[at] = (byte)value;
                    break;
                case 1:
                    bytes.Insert(at, (byte)value);
                    break;
                case 2:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + value % 8));
                    break;
                default:
                    var length = Math.Min(bytes.Count - at, 1 + value);
                    bytes.InsertRange(at, bytes.GetRange(at, length));
                    break;
            }
        }
        return [.. bytes];
    }
}
