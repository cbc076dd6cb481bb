using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Hub;

public sealed class RepoReferenceTests
{
    public static TheoryData<string, string, RepoType?, string?> Valid => new()
    {
        // Plain ids carry neither a type nor a revision.
        { "gpt2", "gpt2", null, null },
        { "org/name", "org/name", null, null },
        { "  org/name  ", "org/name", null, null },

        // hf download's prefixed ids: the prefix picks the type.
        { "datasets/org/name", "org/name", RepoType.Dataset, null },
        { "spaces/org/name", "org/name", RepoType.Space, null },
        { "models/org/name", "org/name", RepoType.Model, null },

        // Hub URLs: the prefix picks the type, /tree|blob|resolve|raw/<rev> the revision.
        { "https://huggingface.co/org/name", "org/name", RepoType.Model, null },
        { "https://huggingface.co/org/name/", "org/name", RepoType.Model, null },
        { "http://huggingface.co/org/name", "org/name", RepoType.Model, null },
        { "HTTPS://huggingface.co/org/name", "org/name", RepoType.Model, null },
        { "https://huggingface.co/datasets/org/name", "org/name", RepoType.Dataset, null },
        { "https://huggingface.co/spaces/org/name", "org/name", RepoType.Space, null },
        { "https://huggingface.co/org/name/tree/v1.0", "org/name", RepoType.Model, "v1.0" },
        { "https://huggingface.co/org/name/resolve/main/config.json", "org/name", RepoType.Model, "main" },
        { "https://huggingface.co/org/name/blob/dev/sub/file.txt", "org/name", RepoType.Model, "dev" },
        { "https://huggingface.co/org/name/raw/main/README.md", "org/name", RepoType.Model, "main" },
        { "https://huggingface.co/datasets/nyu-mll/glue/tree/main/ax", "nyu-mll/glue", RepoType.Dataset, "main" },
        { "https://huggingface.co/org/name/tree/refs%2Fpr%2F1", "org/name", RepoType.Model, "refs/pr/1" },
        { "https://huggingface.co/datasets/org/name/tree/refs%2Fconvert%2Fparquet", "org/name", RepoType.Dataset, "refs/convert/parquet" },
        { "https://huggingface.co/org/name?library=transformers#top", "org/name", RepoType.Model, null },
        { "https://huggingface.co/gpt2", "gpt2", RepoType.Model, null },
        { "https://huggingface.co/gpt2/resolve/main/config.json", "gpt2", RepoType.Model, "main" },

        // hf:// URIs: [datasets/|spaces/]org/name[@rev][/path]
        { "hf://org/name", "org/name", RepoType.Model, null },
        { "hf://datasets/org/name", "org/name", RepoType.Dataset, null },
        { "hf://datasets/org/name@rev/path", "org/name", RepoType.Dataset, "rev" },
        { "hf://datasets/org/name@rev/deep/path/file.parquet", "org/name", RepoType.Dataset, "rev" },
        { "hf://spaces/org/name@main", "org/name", RepoType.Space, "main" },
        { "hf://org/name/sub/file.bin", "org/name", RepoType.Model, null },
        { "hf://gpt2", "gpt2", RepoType.Model, null },
        { "hf://gpt2@v1", "gpt2", RepoType.Model, "v1" },

        // PR and convert refs span segments, as huggingface_hub's HfFileSystem and the Hub's own links write them.
        { "hf://datasets/org/big@refs/pr/1", "org/big", RepoType.Dataset, "refs/pr/1" },
        { "hf://datasets/org/big@refs/pr/1/data/file.txt", "org/big", RepoType.Dataset, "refs/pr/1" },
        { "hf://datasets/org/big@refs/convert/parquet/default/train/0000.parquet", "org/big", RepoType.Dataset, "refs/convert/parquet" },
        { "hf://datasets/org/big@refs%2Fpr%2F1", "org/big", RepoType.Dataset, "refs/pr/1" },
        { "hf://gpt2@refs/pr/7", "gpt2", RepoType.Model, "refs/pr/7" },
        { "hf://org/name@refs/heads/x", "org/name", RepoType.Model, "refs" },
        { "https://huggingface.co/datasets/org/big/tree/refs/pr/1", "org/big", RepoType.Dataset, "refs/pr/1" },
        { "https://huggingface.co/datasets/org/big/tree/refs/convert/parquet/default", "org/big", RepoType.Dataset, "refs/convert/parquet" },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void A_reference_yields_the_id_type_and_revision_it_names(string text, string id, RepoType? type, string? revision)
    {
        var reference = RepoReference.Parse(text);

        Assert.Equal(id, reference.Id.Value);
        Assert.Equal(type, reference.Type);
        Assert.Equal(revision, reference.Revision);
    }

    [Theory]
    [InlineData("https://huggingface.co/org/name", null)]
    [InlineData("https://huggingface.co/org/name/tree/main", null)]
    [InlineData("https://huggingface.co/org/name/resolve/main/config.json", "config.json")]
    [InlineData("https://huggingface.co/org/name/blob/dev/sub/file.txt", "sub/file.txt")]
    [InlineData("https://huggingface.co/org/name/raw/main/README.md", "README.md")]
    [InlineData("https://huggingface.co/datasets/nyu-mll/glue/tree/main/ax", "ax/")]
    [InlineData("https://huggingface.co/datasets/org/big/tree/refs/convert/parquet/default/train", "default/train/")]
    [InlineData("https://huggingface.co/datasets/org/big/blob/refs%2Fpr%2F1/data/a%20b.txt", "data/a b.txt")]
    [InlineData("hf://datasets/org/name@rev/path", "path")]
    [InlineData("hf://datasets/org/name@rev/sub/dir/", "sub/dir/")]
    [InlineData("hf://org/name/sub/file.bin", "sub/file.bin")]
    [InlineData("hf://datasets/org/big@refs/pr/1/data/file.txt", "data/file.txt")]
    [InlineData("hf://datasets/org/big@refs/pr/1", null)]
    [InlineData("hf://org/name@main", null)]
    [InlineData("hf://org/name", null)]
    [InlineData("org/name", null)]
    public void A_hub_url_into_a_file_or_folder_selects_it(string text, string? path) =>
        Assert.Equal(path, RepoReference.Parse(text).PathInRepo);

    [Theory]
    [InlineData("https://mirror.example/hf/org/name/blob/v1/sub/a.txt", "https://mirror.example/hf", "org/name", RepoType.Model, "v1", "sub/a.txt")]
    [InlineData("https://MIRROR.example/hf/datasets/org/data/tree/main/x", "https://mirror.example/hf/", "org/data", RepoType.Dataset, "main", "x/")]
    [InlineData("https://mirror.example/hf/gpt2", "https://mirror.example/hf", "gpt2", RepoType.Model, null, null)]
    [InlineData("https://huggingface.co/org/name", "https://mirror.example/hf", "org/name", RepoType.Model, null, null)]
    [InlineData("http://127.0.0.1:8080/a/b/c/org/name/resolve/main/f", "http://127.0.0.1:8080/a/b/c", "org/name", RepoType.Model, "main", "f")]
    public void A_url_below_an_endpoint_with_a_path_is_read_after_that_path(string text, string endpoint, string id, RepoType type, string? revision, string? path)
    {
        var reference = RepoReference.Parse(text, new Uri(endpoint));

        Assert.Equal(id, reference.Id.Value);
        Assert.Equal(type, reference.Type);
        Assert.Equal(revision, reference.Revision);
        Assert.Equal(path, reference.PathInRepo);
    }

    [Theory]
    [InlineData("https://other.example/hf/org/name", "https://mirror.example/hf")]
    [InlineData("https://mirror.example:444/hf/org/name", "https://mirror.example/hf")]
    [InlineData("http://mirror.example/hf/org/name", "https://mirror.example/hf")]
    [InlineData("https://mirror.example/hfx/org/name", "https://mirror.example/hf")]
    public void A_url_on_another_host_port_scheme_or_path_keeps_its_whole_path(string text, string endpoint) =>
        Assert.False(RepoReference.TryParse(text, new Uri(endpoint), out _, out _));

    public static TheoryData<string> Invalid => new()
    {
        "",
        "   ",
        "https://",
        "https://huggingface.co",
        "https://huggingface.co/",
        "https://huggingface.co/datasets",
        "https://huggingface.co/datasets/",
        "https://huggingface.co/a/b/c",
        "https://huggingface.co/api/models/org/name",
        "https://huggingface.co/org/na--me",
        "https://huggingface.co/org/name.git",
        "https://[::1",
        "ftp://huggingface.co/org/name",
        "hf://",
        "hf://datasets",
        "hf://datasets/",
        "hf://org/na me",
        "huggingface.co/org/name",
        "org/name/extra",
        "datasets/org/na me",
        "datasets/org/name@v1",
        "javascript:alert(1)",
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Garbage_is_rejected_with_InvalidRepoIdException_only(string text)
    {
        Assert.False(RepoReference.TryParse(text, out var reference, out var problem));
        Assert.Null(reference);
        Assert.False(string.IsNullOrWhiteSpace(problem));

        var ex = Record.Exception(() => RepoReference.Parse(text));
        var invalid = Assert.IsType<InvalidRepoIdException>(ex);
        Assert.Contains(problem, invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_is_rejected_as_empty()
    {
        Assert.False(RepoReference.TryParse(null, out _, out var problem));
        Assert.Equal("it is empty", problem);
    }
}
