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

/// <summary>An expected digest, taken from the Hub (tree <c>lfs.oid</c>/<c>oid</c>, or an etag).</summary>
public readonly record struct ContentHash(HashKind Kind, string Hex)
{
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
                hash = new ContentHash(HashKind.Sha256, etag.ToLowerInvariant());
                return true;
            case 40:
                hash = new ContentHash(HashKind.GitSha1, etag.ToLowerInvariant());
                return true;
            default:
                return false;
        }
    }

    /// <summary>Normalises an etag header value: drops a leading <c>W/</c> and the quotes, as huggingface_hub does.</summary>
    public static string NormalizeEtag(string etag)
    {
        var value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal))
        {
            value = value[2..];
        }
        return value.Trim('"');
    }

    /// <summary>True when <paramref name="text"/> is made of hexadecimal digits only (and is not empty).</summary>
    public static bool IsHex(string text)
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
    public IncrementalHash CreateHasher(long length) =>
        Kind == HashKind.Sha256 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : GitBlobHasher.Create(length);

    /// <summary>The hash as <c>sha256:HEX</c> or <c>git-sha1:HEX</c>.</summary>
    public override string ToString() => $"{(Kind == HashKind.Sha256 ? "sha256" : "git-sha1")}:{Hex}";
}
