using System.Text.Json;
using Hfdl.Core.Hub;
using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;

namespace Hfdl.Core.Tests.Planning;

public sealed class RemoteFileTests
{
    private static TreeEntry Entry(string json) => JsonSerializer.Deserialize(json, HubJsonContext.Default.TreeEntry)!;

    [Fact]
    public void A_regular_file_is_checked_by_its_git_blob_sha1()
    {
        var file = RemoteFile.FromTreeEntry(Entry("""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":313,"path":"config.json"}"""));

        Assert.NotNull(file);
        Assert.Equal("config.json", file.Path);
        Assert.Equal(313, file.Size);
        Assert.Equal(new ContentHash(HashKind.GitSha1, "fca794a5f07ff8f963fe8b61e3694b0fb7f955df"), file.Hash);
        Assert.False(file.IsLfs);
        Assert.Equal("fca794a5f07ff8f963fe8b61e3694b0fb7f955df", file.Etag);
    }

    [Fact]
    public void An_lfs_file_is_checked_by_the_content_sha256_not_the_pointer_oid()
    {
        var file = RemoteFile.FromTreeEntry(Entry("""
            {"type":"file","oid":"9eb98c817f04b051b3bcca591bcd4e03cec88018","size":536063208,
             "lfs":{"oid":"a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2","size":536063208,"pointerSize":134},
             "xetHash":"879c5715c18a0b7f051dd33f70f0a5c8dd1522e0a43f6f75520f16167f29279b","path":"tf_model.h5"}
            """));

        Assert.NotNull(file);
        Assert.Equal(new ContentHash(HashKind.Sha256, "a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2"), file.Hash);
        Assert.Equal(536063208, file.Size);
        Assert.True(file.IsLfs);
    }

    [Fact]
    public void A_redacted_xetHash_on_a_gated_repo_does_not_matter()
    {
        var file = RemoteFile.FromTreeEntry(Entry($$"""
            {"type":"file","oid":"9eb98c817f04b051b3bcca591bcd4e03cec88018","size":10,
             "lfs":{"oid":"a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2","size":10,"pointerSize":134},
             "xetHash":"{{new string('*', 64)}}","path":"model.safetensors"}
            """));

        Assert.Equal(HashKind.Sha256, file!.Hash.Kind);
    }

    [Theory]
    [InlineData("""{"type":"directory","oid":"d03ec5ec179df58241d27d55f92a674f5f44197f","size":0,"path":"onnx"}""")]
    [InlineData("""{"type":"tree","oid":"d03ec5ec179df58241d27d55f92a674f5f44197f","size":0,"path":"onnx"}""")]
    [InlineData("""{"type":"unknown","path":"x"}""")]
    public void A_directory_or_unknown_entry_is_not_a_file(string json)
    {
        Assert.Null(RemoteFile.FromTreeEntry(Entry(json)));
    }

    [Fact]
    public void The_old_blob_type_counts_as_a_file()
    {
        Assert.NotNull(RemoteFile.FromTreeEntry(Entry("""{"type":"blob","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":1,"path":"a"}""")));
    }

    [Theory]
    [InlineData("""{"type":"file","oid":"not-a-sha","size":1,"path":"a"}""", "invalid git object id")]
    [InlineData("""{"type":"file","size":1,"path":"a"}""", "invalid git object id")]
    [InlineData("""{"type":"file","oid":"a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2","size":1,"path":"a"}""", "invalid git object id")]
    [InlineData("""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":1,"path":"a","lfs":{"oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":1}}""", "invalid sha256")]
    [InlineData("""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":1,"path":"a","lfs":{"oid":"41a0e56472bad33498744818c8b1ef2c-64","size":1}}""", "invalid sha256")]
    [InlineData("""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":-1,"path":"a"}""", "negative size")]
    [InlineData("""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":134,"path":"a","lfs":{"oid":"a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2","size":536063208}}""", "two different sizes")]
    public void An_entry_hfdl_cannot_verify_is_a_protocol_error(string json, string fragment)
    {
        var ex = Assert.Throws<HubProtocolException>(() => RemoteFile.FromTreeEntry(Entry(json)));
        Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../../.bashrc")]
    [InlineData("/etc/passwd")]
    [InlineData("a\\..\\b")]
    public void An_unsafe_path_from_the_server_is_listed_marked_and_refused_once_selected(string path)
    {
        var entry = new TreeEntry { Type = "file", Path = path, Oid = "fca794a5f07ff8f963fe8b61e3694b0fb7f955df", Size = 1 };

        var file = RemoteFile.FromTreeEntry(entry)!;

        Assert.Equal(RepoFilePath.Problem(path, OperatingSystem.IsWindows()), file.WriteProblem);
        Assert.NotNull(file.WriteProblem);
        var error = Assert.Throws<UnsafePathException>(() => FilePlanner.RefuseUnwritable([file]));
        Assert.Equal(path, error.RejectedPath);
    }

    [Fact]
    public void An_entry_without_a_name_fails_the_listing()
    {
        var entry = new TreeEntry { Type = "file", Path = "", Oid = "fca794a5f07ff8f963fe8b61e3694b0fb7f955df", Size = 1 };
        Assert.Throws<UnsafePathException>(() => RemoteFile.FromTreeEntry(entry));
    }

    [Fact]
    public void A_huge_bogus_oid_is_shortened_in_the_message()
    {
        var entry = new TreeEntry { Type = "file", Path = "a", Oid = new string('z', 10_000), Size = 1 };
        var ex = Assert.Throws<HubProtocolException>(() => RemoteFile.FromTreeEntry(entry));
        Assert.True(ex.Message.Length < 400, ex.Message);
    }

    [Theory]
    [InlineData(9223372036854775807L, false)]
    [InlineData(1125899906842625L, false)]
    [InlineData(9223372036854775807L, true)]
    public void A_listed_size_beyond_1_PiB_is_refused_as_implausible(long size, bool lfs)
    {
        var json = lfs
            ? $$$"""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":{{{size}}},"path":"w.bin","lfs":{"oid":"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a","size":{{{size}}},"pointerSize":134}}"""
            : $$"""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":{{size}},"path":"w.bin"}""";

        var error = Assert.Throws<HubProtocolException>(() => RemoteFile.FromTreeEntry(Entry(json)));

        Assert.Contains("more than 1 PiB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_size_of_exactly_1_PiB_is_still_accepted()
    {
        var file = RemoteFile.FromTreeEntry(Entry("""{"type":"file","oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","size":1125899906842624,"path":"w.bin"}"""));

        Assert.Equal(FileSizes.MaxFileSize, file!.Size);
    }

    [Theory]
    [InlineData("""{"type":"file","oid":"\u001b]0;PWNED\u0007\u001b[2J","size":5,"path":"config.json"}""")]
    [InlineData("""{"type":"file","oid":"9eb98c817f04b051b3bcca591bcd4e03cec88018","size":5,"lfs":{"oid":"\u001b]0;PWNED\u0007","size":5},"path":"w.bin"}""")]
    public void A_hash_the_hub_garbled_is_quoted_with_its_control_characters_escaped(string json)
    {
        // The message reaches terminals and `jq -r .message`: the server's bytes must not replay as an escape sequence.
        var error = Assert.Throws<HubProtocolException>(() => RemoteFile.FromTreeEntry(Entry(json)));

        Assert.DoesNotContain(error.Message, c => char.IsControl(c));
        Assert.Contains("\\x1b]0;PWNED\\x07", error.Message, StringComparison.Ordinal);
    }
}
