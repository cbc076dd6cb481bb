using System.Security.Cryptography;
using System.Text;
using Hfdl.Core.Integrity;

namespace Hfdl.Core.Tests.Integrity;

public sealed class GitBlobHasherTests
{
    [Theory]
    [InlineData("Hello, World!", "b45ef6fec89518d314f546fd6c3025367b721684")]
    [InlineData("", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")]
    [InlineData("hello\n", "ce013625030ba8dba906f756967f9e9ca394464a")]
    public void The_git_blob_id_matches_git_hash_object(string content, string expected)
    {
        Assert.Equal(expected, GitBlobHasher.Compute(Encoding.UTF8.GetBytes(content)));
    }

    [Fact]
    public void The_header_is_blob_space_decimal_length_nul()
    {
        Assert.Equal("blob 536063208\0"u8.ToArray(), GitBlobHasher.Header(536063208));
        Assert.Equal("blob 0\0"u8.ToArray(), GitBlobHasher.Header(0));
    }

    [Fact]
    public void Hashing_in_pieces_gives_the_same_id_as_hashing_at_once()
    {
        var content = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("this is a text file.", 1000)));
        using var hasher = GitBlobHasher.Create(content.Length);
        for (var offset = 0; offset < content.Length; offset += 777)
        {
            hasher.AppendData(content, offset, Math.Min(777, content.Length - offset));
        }

        Assert.Equal(GitBlobHasher.Compute(content), Convert.ToHexStringLower(hasher.GetHashAndReset()));
    }

    [Fact]
    public void A_negative_length_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GitBlobHasher.Create(-1));
    }

    [Fact]
    public void ContentHash_creates_the_hasher_of_its_kind()
    {
        var content = "Hello, World!"u8.ToArray();
        using (var git = new ContentHash(HashKind.GitSha1, "b45ef6fec89518d314f546fd6c3025367b721684").CreateHasher(content.Length))
        {
            git.AppendData(content);
            Assert.Equal("b45ef6fec89518d314f546fd6c3025367b721684", Convert.ToHexStringLower(git.GetHashAndReset()));
        }
        using var sha = new ContentHash(HashKind.Sha256, new string('0', 64)).CreateHasher(content.Length);
        sha.AppendData(content);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    [Fact]
    public async Task LocalHasher_hashes_a_file_on_disk_in_the_kind_asked_for()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, "Hello, World!");
            Assert.Equal("b45ef6fec89518d314f546fd6c3025367b721684",
                await LocalHasher.HashFileAsync(path, new ContentHash(HashKind.GitSha1, new string('0', 40)), CancellationToken.None));
            Assert.Equal("dffd6021bb2bd5b0af676290809ec3a53191dd81c7f70a4b28688a362182986f",
                await LocalHasher.HashFileAsync(path, new ContentHash(HashKind.Sha256, new string('0', 64)), CancellationToken.None));
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public sealed class ContentHashTests
{
    private const string Sha256 = "a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2";
    private const string Sha1 = "9eb98c817f04b051b3bcca591bcd4e03cec88018";

    [Theory]
    [InlineData("\"" + Sha256 + "\"", Sha256)]
    [InlineData("W/\"" + Sha1 + "\"", Sha1)]
    [InlineData("W/\"a16a55fda99d2f2e7b69cce5cf93ff4ad3049930\"", "a16a55fda99d2f2e7b69cce5cf93ff4ad3049930")]
    [InlineData("  \"" + Sha1 + "\"  ", Sha1)]
    [InlineData(Sha1, Sha1)]
    [InlineData("\"41a0e56472bad33498744818c8b1ef2c-64\"", "41a0e56472bad33498744818c8b1ef2c-64")]
    [InlineData("W/\"1144-0lLZ4rZ6fR3gbhjw06/nTxkknu0\"", "1144-0lLZ4rZ6fR3gbhjw06/nTxkknu0")]
    public void NormalizeEtag_drops_the_weak_prefix_and_the_quotes(string header, string expected)
    {
        Assert.Equal(expected, ContentHash.NormalizeEtag(header));
    }

    [Theory]
    [InlineData(Sha256, HashKind.Sha256)]
    [InlineData("A7A17D6D844B5DE815CCAB5F42CAD6D24496DB3850A2A43D8258221018CE87D2", HashKind.Sha256)]
    [InlineData(Sha1, HashKind.GitSha1)]
    [InlineData("7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421", HashKind.Sha256)]
    public void A_40_or_64_hex_etag_is_a_git_sha1_or_a_sha256(string etag, HashKind kind)
    {
        Assert.True(ContentHash.TryFromEtag(etag, out var hash));
        Assert.Equal(kind, hash.Kind);
        Assert.Equal(etag.ToLowerInvariant(), hash.Hex);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("41a0e56472bad33498744818c8b1ef2c")] // an S3 / CDN md5
    [InlineData("41a0e56472bad33498744818c8b1ef2c-64")] // an S3 multipart etag
    [InlineData("\"" + Sha256 + "\"")] // not normalised
    [InlineData("W/\"" + Sha1 + "\"")]
    [InlineData("1144-0lLZ4rZ6fR3gbhjw06/nTxkknu0")] // the weak etag of an API answer
    [InlineData("****************************************************************")] // a redacted xetHash
    [InlineData("zzzzc5715c18a0b7f051dd33f70f0a5c8dd1522e0a43f6f75520f16167f29279b")]
    [InlineData("879c5715c18a0b7f051dd33f70f0a5c8dd1522e0a43f6f75520f16167f29279")] // 63 hex
    [InlineData("879c5715c18a0b7f051dd33f70f0a5c8dd1522e0a43f6f75520f16167f29279b0")] // 65 hex
    [InlineData(" " + Sha1)]
    public void Anything_else_identifies_nothing_hfdl_can_check(string? etag)
    {
        Assert.False(ContentHash.TryFromEtag(etag, out var hash));
        Assert.Equal(default, hash);
    }

    [Fact]
    public void A_64_star_redacted_xetHash_stays_unusable_after_normalising()
    {
        var redacted = new string('*', 64);
        Assert.False(ContentHash.TryFromEtag(ContentHash.NormalizeEtag($"\"{redacted}\""), out _));
    }

    [Fact]
    public void ToString_names_the_kind()
    {
        Assert.Equal($"sha256:{Sha256}", new ContentHash(HashKind.Sha256, Sha256).ToString());
        Assert.Equal($"git-sha1:{Sha1}", new ContentHash(HashKind.GitSha1, Sha1).ToString());
    }

    [Fact]
    public void A_digest_is_held_as_bytes_and_gives_back_its_lower_case_hex_and_compares_by_value()
    {
        Assert.True(ContentHash.TryFromEtag(Sha256.ToUpperInvariant(), out var upper));
        var lower = new ContentHash(HashKind.Sha256, Sha256);
        Assert.Equal(Sha256, upper.Hex);
        Assert.Equal(lower, upper);
        Assert.True(lower == upper);
        Assert.Equal(lower.GetHashCode(), upper.GetHashCode());
        Assert.Equal(Sha1, new ContentHash(HashKind.GitSha1, Sha1).Hex);
        // Same leading bytes, another kind or another last digit: not equal.
        Assert.NotEqual(new ContentHash(HashKind.GitSha1, Sha256[..40]), new ContentHash(HashKind.Sha256, Sha256[..40] + new string('0', 24)));
        Assert.NotEqual(lower, new ContentHash(HashKind.Sha256, Sha256[..63] + (Sha256[63] == '0' ? '1' : '0')));
    }

    [Theory]
    [InlineData(HashKind.Sha256, "abc")]
    [InlineData(HashKind.GitSha1, "zz00000000000000000000000000000000000000")]
    [InlineData(HashKind.GitSha1, "0000000000000000000000000000000000000000000000000000000000000000")]
    public void A_digest_that_is_not_its_kind_s_hex_is_refused(HashKind kind, string hex) =>
        Assert.Throws<ArgumentException>(() => new ContentHash(kind, hex));
}
