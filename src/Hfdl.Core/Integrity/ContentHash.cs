using System.Security.Cryptography;

namespace Hfdl.Core.Integrity;

/// <summary>Which digest identifies a file on the Hub.</summary>
public enum HashKind
{
    /// <summary>Git blob sha1 (40 hex): regular files.</summary>
    GitSha1,

    /// <summary>Content sha256 (64 hex): LFS and Xet files.</summary>
    Sha256,
}

/// <summary>
/// An expected digest, taken from the Hub (tree <c>lfs.oid</c>/<c>oid</c>, or an etag). The digest is held as its 20 or
/// 32 bytes inside the value, not as a hex string: a listing of 400,000 files keeps 400,000 of them (about 30 MB less).
/// </summary>
public readonly struct ContentHash : IEquatable<ContentHash>
{
    private readonly ulong _0;
    private readonly ulong _1;
    private readonly ulong _2;
    private readonly ulong _3;

    /// <summary>A digest of <paramref name="kind"/> from its hex text (40 digits for a git sha1, 64 for a sha256; either case).</summary>
    /// <exception cref="ArgumentException"><paramref name="hex"/> is not that many hex digits.</exception>
    public ContentHash(HashKind kind, string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        var length = kind == HashKind.Sha256 ? 32 : 20;
        if (hex.Length != length * 2 || !IsHex(hex))
        {
            throw new ArgumentException($"A {(kind == HashKind.Sha256 ? "sha256" : "git sha1")} digest is {length * 2} hex digits.", nameof(hex));
        }
        Span<byte> bytes = stackalloc byte[32];
        bytes.Clear();
        Convert.FromHexString(hex, bytes, out _, out _);
        Kind = kind;
        _0 = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _1 = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _2 = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        _3 = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
    }

    /// <summary>Which digest this is.</summary>
    public HashKind Kind { get; }

    /// <summary>The digest in lower-case hex (a new string on each call).</summary>
    public string Hex
    {
        get
        {
            Span<char> text = stackalloc char[64];
            return new string(text[..WriteHex(text)]);
        }
    }

    /// <summary>Writes the digest in lower-case hex into <paramref name="destination"/> (64 chars at least); returns how many it wrote.</summary>
    public int WriteHex(Span<char> destination)
    {
        Span<byte> bytes = stackalloc byte[32];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, _0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[16..], _2);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[24..], _3);
        var length = Kind == HashKind.Sha256 ? 32 : 20;
        Convert.TryToHexStringLower(bytes[..length], destination, out var written);
        return written;
    }

    /// <summary>Same kind and same digest.</summary>
    public static bool operator ==(ContentHash left, ContentHash right) => left.Equals(right);

    /// <summary>Another kind or another digest.</summary>
    public static bool operator !=(ContentHash left, ContentHash right) => !left.Equals(right);

    /// <inheritdoc/>
    public bool Equals(ContentHash other) => Kind == other.Kind && _0 == other._0 && _1 == other._1 && _2 == other._2 && _3 == other._3;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ContentHash other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, _0, _1, _2, _3);

    /// <summary>
    /// Reads a normalised Hub etag: 64 hex is a sha256 (LFS), 40 hex a git blob sha1. Anything else (a CDN md5, an
    /// S3 multipart tag, a Xet hash) identifies nothing hfdl can check, so it is refused.
    /// </summary>
    public static bool TryFromEtag(string? etag, out ContentHash hash)
    {
        hash = default;
        if (etag is null || !IsHex(etag))
        {
            return false;
        }
        switch (etag.Length)
        {
            case 64:
                hash = new ContentHash(HashKind.Sha256, etag);
                return true;
            case 40:
                hash = new ContentHash(HashKind.GitSha1, etag);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Normalises an etag header value: drops a leading <c>W/</c> and the quotes, as huggingface_hub does.</summary>
    internal static string NormalizeEtag(string etag)
    {
        var value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal))
        {
            value = value[2..];
        }
        return value.Trim('"');
    }

    /// <summary>True when <paramref name="text"/> is made of hexadecimal digits only (and is not empty).</summary>
    internal static bool IsHex(string text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }
        return text.Length > 0;
    }

    /// <summary>Starts an incremental hash of this kind for content of the given length.</summary>
    internal IncrementalHash CreateHasher(long length) =>
        Kind == HashKind.Sha256 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : GitBlobHasher.Create(length);

    /// <summary>The hash as <c>sha256:HEX</c> or <c>git-sha1:HEX</c>.</summary>
    public override string ToString() => $"{(Kind == HashKind.Sha256 ? "sha256" : "git-sha1")}:{Hex}";
}
