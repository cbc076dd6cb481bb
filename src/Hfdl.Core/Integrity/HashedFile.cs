namespace Hfdl.Core.Integrity;

/// <summary>
/// What a verification found for one file, and the file as it was when hashed: a repair that follows the verification
/// (<c>--verify --fix-broken</c>) trusts the verdict while the file is unchanged, instead of hashing a 100 GB model twice.
/// </summary>
/// <param name="Ok">The file had the size and hash the Hub lists (else it was corrupt).</param>
/// <param name="ExpectedHash">The hash the verdict was against: a revision that moved in between gets no trust.</param>
internal sealed record HashedFile(bool Ok, string ExpectedHash, string FullPath, long Length, long MtimeTicks)
{
    /// <summary>The stamp of <paramref name="info"/> (a resolved, existing regular file) with its verdict.</summary>
    public static HashedFile Of(FileInfo info, bool ok, string expectedHash) =>
        new(ok, expectedHash, Path.GetFullPath(info.FullName), info.Length, info.LastWriteTimeUtc.Ticks);

    /// <summary>Whether <paramref name="data"/> is still the file this verdict was given for (same place, size and time).</summary>
    public bool StillDescribes(FileInfo data, string expectedHash)
    {
        data.Refresh();
        return ExpectedHash == expectedHash && data.Exists && data.LinkTarget is null
            && Path.GetFullPath(data.FullName) == FullPath && data.Length == Length && data.LastWriteTimeUtc.Ticks == MtimeTicks;
    }
}
