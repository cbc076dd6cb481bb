using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Hfdl.Core.Integrity;

/// <summary>
/// Git's blob id: <c>sha1("blob " + decimal(length) + "\0" + content)</c>. The Hub exposes it as the tree <c>oid</c>
/// and the resolve <c>ETag</c> of regular (non-LFS) files. The length goes into the header, so it must be known first.
/// </summary>
internal static class GitBlobHasher
{
    public static IncrementalHash Create(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        hash.AppendData(Header(length));
        return hash;
    }

    public static byte[] Header(long length) =>
        Encoding.ASCII.GetBytes("blob " + length.ToString(CultureInfo.InvariantCulture) + "\0");

    public static string Compute(ReadOnlySpan<byte> content)
    {
        using var hash = Create(content.Length);
        hash.AppendData(content);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
