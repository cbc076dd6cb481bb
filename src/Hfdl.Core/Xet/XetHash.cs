using System.Buffers.Binary;
using System.Globalization;

namespace Hfdl.Core.Xet;

/// <summary>
/// A 32-byte Xet hash (chunk, xorb or file hash; Xet calls it a MerkleHash). Stored as xet-core stores it: four
/// little-endian 64-bit words over the raw bytes. Its text form is not the hex of the bytes: each 8-byte word is printed
/// as a 16-digit number, so every word's bytes appear reversed (spec api.md, "Converting Hashes to Strings"). That is
/// the form in URLs, JSON, <c>X-Xet-Hash</c> and <c>xetHash</c>.
/// </summary>
internal readonly struct XetHash : IEquatable<XetHash>
{
    public const int Size = 32;

    private readonly ulong _w0;
    private readonly ulong _w1;
    private readonly ulong _w2;
    private readonly ulong _w3;

    private XetHash(ulong w0, ulong w1, ulong w2, ulong w3)
    {
        _w0 = w0;
        _w1 = w1;
        _w2 = w2;
        _w3 = w3;
    }

    /// <summary>All zeros: the hash of nothing (an empty file or xorb).</summary>
    public static XetHash Zero => default;

    /// <summary>The last word as a number, which the aggregated hash's tree shape is cut on (xet-core's <c>hash % n</c>).</summary>
    internal ulong LastWord => _w3;

    public bool IsZero => (_w0 | _w1 | _w2 | _w3) == 0;

    /// <summary>A hash from its 32 raw bytes (as BLAKE3 outputs them and as shards and xorb footers store them).</summary>
    public static XetHash FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size)
        {
            throw new ArgumentException($"A Xet hash has {Size} bytes, not {bytes.Length}.", nameof(bytes));
        }
        return new XetHash(
            BinaryPrimitives.ReadUInt64LittleEndian(bytes),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[24..]));
    }

    /// <summary>Writes the 32 raw bytes.</summary>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"A Xet hash needs {Size} bytes.", nameof(destination));
        }
        BinaryPrimitives.WriteUInt64LittleEndian(destination, _w0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], _w1);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], _w2);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], _w3);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        CopyTo(bytes);
        return bytes;
    }

    /// <summary>The 64 lower-case hex digits Xet prints: each word as a 16-digit number.</summary>
    public override string ToString() => string.Create(64, this, static (chars, hash) =>
    {
        hash._w0.TryFormat(chars, out _, "x16", CultureInfo.InvariantCulture);
        hash._w1.TryFormat(chars[16..], out _, "x16", CultureInfo.InvariantCulture);
        hash._w2.TryFormat(chars[32..], out _, "x16", CultureInfo.InvariantCulture);
        hash._w3.TryFormat(chars[48..], out _, "x16", CultureInfo.InvariantCulture);
    });

    /// <summary>Writes the text form into <paramref name="destination"/> as ASCII (64 bytes), for hashing node text.</summary>
    internal void FormatUtf8(Span<byte> destination)
    {
        _w0.TryFormat(destination, out _, "x16", CultureInfo.InvariantCulture);
        _w1.TryFormat(destination[16..], out _, "x16", CultureInfo.InvariantCulture);
        _w2.TryFormat(destination[32..], out _, "x16", CultureInfo.InvariantCulture);
        _w3.TryFormat(destination[48..], out _, "x16", CultureInfo.InvariantCulture);
    }

    /// <summary>Parses the 64-hex text form (either case); false for anything else, including a redacted <c>****…</c>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out XetHash hash)
    {
        hash = default;
        if (text.Length != 64)
        {
            return false;
        }
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }
        hash = new XetHash(
            ulong.Parse(text[..16], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
            ulong.Parse(text[16..32], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
            ulong.Parse(text[32..48], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
            ulong.Parse(text[48..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
        return true;
    }

    /// <summary>Parses the 64-hex text form; a <see cref="XetFormatException"/> names what was wrong.</summary>
    public static XetHash Parse(string text, string what) =>
        TryParse(text, out var hash)
            ? hash
            : throw new XetFormatException($"The {what} '{Hfdl.Core.Hub.SafeText.Printable(text)}' is not a Xet hash (64 hexadecimal digits).");

    public bool Equals(XetHash other) => _w0 == other._w0 && _w1 == other._w1 && _w2 == other._w2 && _w3 == other._w3;

    public override bool Equals(object? obj) => obj is XetHash other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_w0, _w1, _w2, _w3);

    public static bool operator ==(XetHash left, XetHash right) => left.Equals(right);

    public static bool operator !=(XetHash left, XetHash right) => !left.Equals(right);
}
