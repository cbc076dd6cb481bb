using Hfdl.Core.Integrity;
using Hfdl.Core.Planning;

namespace Hfdl.Core.Tests.Planning;

/// <summary>--include / --exclude match like huggingface_hub's filter_repo_objects (fnmatch, * crosses /).</summary>
public sealed class PathFilterTests
{
    public static TheoryData<string> Patterns() => [.. FnMatchCases.All.Select(c => c.Pattern).Distinct()];

    [Theory]
    [MemberData(nameof(Patterns))]
    public void A_pattern_matches_exactly_the_paths_that_CPython_fnmatch_matches(string pattern)
    {
        var matcher = FnMatch.Compile(pattern);
        var wrong = FnMatchCases.All
            .Where(c => c.Pattern == pattern && matcher.IsMatch(c.Path) != c.Match)
            .Select(c => $"{c.Path}: expected {c.Match}")
            .ToList();

        Assert.True(wrong.Count == 0, $"pattern '{pattern}' disagrees with fnmatch on: {string.Join("; ", wrong)}");
    }

    private static readonly string[] Repo =
    [
        "config.json", "README.md", "model.safetensors", "onnx/model.onnx", "onnx/config.json",
        "tokenizer/vocab.txt", "tokenizer/merges.txt", "a/onnx/b.onnx",
    ];

    [Theory]
    [InlineData(new string[0], new string[0], "config.json,README.md,model.safetensors,onnx/model.onnx,onnx/config.json,tokenizer/vocab.txt,tokenizer/merges.txt,a/onnx/b.onnx")]
    [InlineData(new[] { "*.json" }, new string[0], "config.json,onnx/config.json")]
    [InlineData(new[] { "onnx/" }, new string[0], "onnx/model.onnx,onnx/config.json")]
    [InlineData(new[] { "*.json", "*.md" }, new string[0], "config.json,README.md,onnx/config.json")]
    [InlineData(new string[0], new[] { "onnx/" }, "config.json,README.md,model.safetensors,tokenizer/vocab.txt,tokenizer/merges.txt,a/onnx/b.onnx")]
    [InlineData(new string[0], new[] { "*.onnx", "*.safetensors" }, "config.json,README.md,onnx/config.json,tokenizer/vocab.txt,tokenizer/merges.txt")]
    [InlineData(new[] { "*.json" }, new[] { "onnx/*" }, "config.json")]
    [InlineData(new[] { "tokenizer/" }, new[] { "*merges*" }, "tokenizer/vocab.txt")]
    [InlineData(new[] { "*onnx*" }, new string[0], "onnx/model.onnx,onnx/config.json,a/onnx/b.onnx")]
    [InlineData(new[] { "Config.json" }, new string[0], "")]
    public void Include_keeps_any_match_and_exclude_then_drops_any_match(string[] include, string[] exclude, string expected)
    {
        var filter = new PathFilter(include, exclude);

        var kept = Repo.Where(filter.Matches);

        Assert.Equal(expected, string.Join(",", kept));
    }

    [Fact]
    public void A_trailing_slash_selects_the_folder_and_everything_under_it()
    {
        var filter = new PathFilter(["tokenizer/"], []);

        Assert.True(filter.Matches("tokenizer/vocab.txt"));
        Assert.True(filter.Matches("tokenizer/deep/er/file"));
        Assert.False(filter.Matches("tokenizer"));
        Assert.False(filter.Matches("a/tokenizer/vocab.txt"));
    }

    [Fact]
    public void An_empty_pattern_is_a_usage_error()
    {
        Assert.Throws<InvalidOptionException>(() => new PathFilter([""], []));
    }

    [Fact]
    public void Apply_keeps_the_order_of_the_listing()
    {
        var hash = new ContentHash(HashKind.GitSha1, new string('a', 40));
        List<RemoteFile> files = [new("b.json", 1, hash, false), new("a.txt", 1, hash, false), new("a.json", 1, hash, false)];

        var kept = new PathFilter(["*.json"], []).Apply(files);

        Assert.Equal(["b.json", "a.json"], kept.Select(f => f.Path));
    }
}
