using System.Security.Cryptography;
using System.Text;

namespace Hfdl.Core.Storage;

/// <summary>
/// Temporary names beside a final file: hidden (a leading dot), unique (random hex digits), with a suffix that says
/// whose they are, and never longer than the 255 bytes a file name may have.
/// </summary>
internal static class TempNames
{
    private const int MaxNameBytes = 255;

    /// <summary>
    /// <c>.{name}.{hex}{suffix}</c> in the folder of <paramref name="finalPath"/>, the name cut (at a character) when
    /// the whole would pass 255 bytes: a legal final name of up to 255 bytes must never fail for its temporary name.
    /// </summary>
    public static string Beside(string finalPath, string suffix, int hexDigits = 8) =>
        Path.Combine(Path.GetDirectoryName(finalPath)!,
            $".{Cut(Path.GetFileName(finalPath), MaxNameBytes - 2 - hexDigits - Encoding.UTF8.GetByteCount(suffix))}.{RandomNumberGenerator.GetHexString(hexDigits, lowercase: true)}{suffix}");

    /// <summary><paramref name="name"/>, cut at a character so that it takes at most <paramref name="maxBytes"/> bytes in UTF-8.</summary>
    internal static string Cut(string name, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(name) <= maxBytes)
        {
            return name;
        }
        var length = name.Length;
        while (length > 0 && Encoding.UTF8.GetByteCount(name.AsSpan(0, length)) > maxBytes)
        {
            length--;
        }
        if (length > 0 && char.IsHighSurrogate(name[length - 1]))
        {
            length--;
        }
        return name[..length];
    }
}
